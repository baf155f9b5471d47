"""The REST service: FastAPI app, API keys, limits, metrics and the Slack bot.

    from agent.service import create_app
    app = create_app(Settings())

Package layout (full-stack-fastapi-template style): `app.py` builds the app and maps errors
to HTTP once; `deps.py` holds the `Annotated` dependencies; `schemas.py` the request and
response bodies; `routes/` one module per resource.
"""

from agent.service.app import create_app

__all__ = ["create_app"]
