"""Dependencies routes declare with `Annotated`: the service state and the caller."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.errors import DrainingError, QueueFullError
from agent.service.auth import LOCAL_CALLER, ApiKey
from agent.service.state import ServiceState

T = TypeVar("T")

# auto_error=False: a missing key gets our 401 (with WWW-Authenticate), not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tr_...`")


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_caller(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The caller's key (401 without a valid one), then its rate limit (429). An address
    that failed to authenticate too often gets 429 for a while, before its key is even
    looked at, so the API is no oracle for guessing keys."""
    if state.keyring is None:
        caller = LOCAL_CALLER
    else:
        address = request.client.host if request.client else "unknown"
        wait_s = state.auth_failures.peek(address) if credentials else None
        if wait_s is not None:
            _too_many(state, "auth_failures", wait_s, "too many failed authentications")
        found = state.keyring.check(credentials.credentials) if credentials else None
        if found is None:
            # A wrong key counts; no key at all (a browser, a health probe) does not.
            wait_s = state.auth_failures.acquire(address) if credentials else None
            if wait_s is not None:
                _too_many(state, "auth_failures", wait_s, "too many failed authentications")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API key is required: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = found
    wait_s = state.limiter.acquire(caller.id)
    if wait_s is not None:
        _too_many(
            state, "rate_limit", wait_s, f"rate limit of {state.limiter.rate:g} requests/s exceeded"
        )
    request.state.caller = caller
    return caller


def _too_many(state: ServiceState, reason: str, wait_s: float, message: str) -> NoReturn:
    state.metrics.rejected.labels(reason).inc()
    raise HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        message,
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


CallerDep = Annotated[ApiKey, Depends(get_caller)]


def get_admin(caller: CallerDep) -> ApiKey:
    """The caller, if its key is an admin key (403 otherwise)."""
    if not caller.admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this needs an admin key (TOOLROUTE_ADMIN_KEYS, or `toolroute keys create --admin`)",
        )
    return caller


AdminDep = Annotated[ApiKey, Depends(get_admin)]


async def run_task(state: ServiceState, work: Callable[[], T]) -> T:
    """Run pipeline work in a worker thread if there is room; 503 with Retry-After if not."""
    admit(state)
    return await run_admitted(state, work)


def admit(state: ServiceState) -> None:
    """Take a place for one piece of pipeline work; 503 with Retry-After if there is none.
    The place is given back by `run_admitted` when the work ends."""
    try:
        state.admission.enter()
    except QueueFullError as exc:
        state.metrics.rejected.labels("queue_full").inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            str(exc),
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from exc
    except DrainingError as exc:
        state.metrics.rejected.labels("shutting_down").inc()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
        ) from exc


async def run_admitted(state: ServiceState, work: Callable[[], T]) -> T:
    """Run admitted work in a worker thread (its place is freed when it ends)."""
    # The worker limiter bounds threads to the admission's worker count; the rest wait.
    return await anyio.to_thread.run_sync(
        state.run_admitted, work, limiter=state.worker_limiter, abandon_on_cancel=True
    )
