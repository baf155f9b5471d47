"""`toolroute serve`: the REST service."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    app,
    err,
    settings,
)

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- service


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (TOOLROUTE_HOST; 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (TOOLROUTE_PORT; 8000).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the REST service (OpenAPI at /docs; Slack at /slack/events when configured)."""
    import uvicorn

    from agent.service import create_app
    from agent.service.middleware import RequestIdFilter

    config = settings()
    level = log_level.upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

    def show_new_key(key: str, where: str) -> None:
        err.print(
            f"[bold]Created an API key[/] (shown only now; its hash is kept in {where}):\n"
            f"  {key}\nSend it as: Authorization: Bearer {key}",
            highlight=False,
        )

    app_ = create_app(config, on_new_key=show_new_key)
    uvicorn.run(
        app_,
        host=host or config.host,
        port=port or config.port,
        log_config=None,  # our handler above, with request ids
        log_level=log_level.lower(),
        access_log=False,  # the service logs each request itself, with its id
        timeout_graceful_shutdown=int(config.drain_timeout_s) or None,
    )
