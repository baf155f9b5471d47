"""`create_app(settings)`: the FastAPI application.

    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=8000)

Errors are mapped to HTTP once, here: every error body is
`{"error": {"type", "message", "request_id", "details"?}}`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.errors import AgentError, ConfigError, DatabaseUnavailableError, TaskNotFoundError
from agent.service.metrics import Metrics
from agent.service.middleware import BodyLimitMiddleware, ObservabilityMiddleware, error_body
from agent.service.state import PipelineFactory, ServiceState, default_pipeline
from agent.settings import Settings
from apidb import CatalogError, DocExistsError, DocNotFoundError, LoaderError
from apidb.errors import CatalogUnavailableError
from retriever import RetrieverError
from retriever.errors import QueryError
from router import RouterError
from router.errors import PolicyConfigError, RouterUnavailableError, UnknownPolicyError

log = logging.getLogger("toolroute.service")

# How long a client should wait before retrying when the task database is unreachable.
DATABASE_RETRY_AFTER_S = 5

IMPORT_PATH = "/v1/apis:import"

_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def _print_new_key(key: str, where: str) -> None:
    log.warning("created an API key (shown once; its hash is kept in %s): %s", where, key)


def create_app(
    settings: Settings | None = None,
    *,
    pipeline_factory: PipelineFactory = default_pipeline,
    on_new_key: Callable[[str, str], None] = _print_new_key,
) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await anyio.to_thread.run_sync(
            ServiceState.open, settings, metrics, pipeline_factory, on_new_key
        )
        state.worker_limiter = anyio.CapacityLimiter(state.admission.workers)
        app.state.service = state
        log.info("toolroute is ready: %d APIs indexed", len(state.pipeline.retriever))
        try:
            async with mcp.mcp_sessions(state, _version()):
                yield
        finally:
            await anyio.to_thread.run_sync(state.shutdown)

    app = FastAPI(
        title="toolroute",
        summary="Natural language in, a verified API call out.",
        version=_version(),
        lifespan=lifespan,
        responses={422: {"description": "Invalid request"}},
        # Served by `routes.pages` from assets in the package: no CDN, so it works offline.
        docs_url=None,
        redoc_url=None,
    )
    _add_error_handlers(app)

    from agent.service.routes import apis, chat, health, mcp, pages, router, slack, tasks

    for module in (health, tasks, apis, router, chat, mcp, slack, pages):
        app.include_router(module.router)
    pages.mount_static(app)

    def body_limit(path: str) -> int:
        return settings.max_import_bytes if path == IMPORT_PATH else settings.max_body_bytes

    # Added last = outermost: every response, a 413 included, carries the request id.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolroute")
    except PackageNotFoundError:
        return "0"


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(kind, message, **extra), status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = _error(exc.status_code, _STATUS_TYPES.get(exc.status_code, "error"), exc.detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        # Also a model built from a valid body can refuse it (an `APIDoc` id rule): the
        # same 422, with `loc` relative to that model.
        assert isinstance(exc, RequestValidationError | ValidationError)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return _error(422, "validation_error", f"{where}: {first['msg']}", details=details)

    def mapped(status: int, kind: str) -> Callable[[Request, Exception], Any]:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return _error(status, kind, str(exc))

        return handler

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was stored, so the client may retry; the database is usually back soon.
        log.error("database unavailable: %s", exc)
        response = _error(503, "database_unavailable", str(exc))
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error; the request id is in the logs")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ValidationError, validation_error)
    app.add_exception_handler(DatabaseUnavailableError, database_unavailable)
    app.add_exception_handler(CatalogUnavailableError, database_unavailable)
    app.add_exception_handler(RouterUnavailableError, database_unavailable)
    # Most specific first: Starlette picks the handler by walking the exception's MRO.
    for exc_type, status, kind in (
        (DocNotFoundError, 404, "not_found"),
        (TaskNotFoundError, 404, "not_found"),
        (DocExistsError, 409, "conflict"),
        (LoaderError, 422, "invalid_import"),
        (QueryError, 422, "invalid_request"),
        (ConfigError, 422, "invalid_request"),
        (UnknownPolicyError, 422, "invalid_request"),
        (PolicyConfigError, 422, "invalid_request"),
        (CatalogError, 500, "catalog_error"),
        (RetrieverError, 503, "retrieval_unavailable"),
        (RouterError, 500, "router_error"),
        (AgentError, 500, "agent_error"),
    ):
        app.add_exception_handler(exc_type, mapped(status, kind))
    app.add_exception_handler(Exception, internal)
