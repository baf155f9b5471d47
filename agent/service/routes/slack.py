"""`/slack/events`: Slack's events, slash commands and button clicks (one URL for all).

Authenticated by Slack's request signature, not by API keys. Without Slack credentials
configured the route answers 404, as if it did not exist."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response, status

from agent.service.deps import StateDep

router = APIRouter(tags=["slack"])


@router.post("/slack/events", summary="Slack Events API and interactivity endpoint")
async def slack_events(request: Request, state: StateDep) -> Response:
    bot = state.slack
    if bot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Slack is not configured")
    body = await request.body()
    reply = await anyio.to_thread.run_sync(bot.dispatch, body, dict(request.headers))
    return Response(
        content=reply.body,
        status_code=reply.status,
        headers=reply.first_headers_without_set_cookie(),
    )
