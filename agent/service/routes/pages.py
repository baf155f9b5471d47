"""Pages for people: the API reference at `/docs` (Swagger UI) and the web console at `/`.

Their scripts and styles ship in `agent/service/static` and are served from `/static`, so
both work on a machine without internet access. The pages themselves hold no data: the
console asks the API with the key its user types in, like any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="toolroute API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


@router.get("/")
def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "console" / "index.html", media_type="text/html")
