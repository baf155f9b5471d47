"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from agent.errors import SandboxError
from agent.service.deps import CallerDep, StateDep, bearer, get_caller
from agent.service.schemas import Check, Readiness
from agent.service.state import ServiceState

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up (no key needed)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Index loaded, databases reachable, sandbox available",
    responses={503: {"model": Readiness}},
)
async def readyz(
    request: Request,
    state: StateDep,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Readiness:
    """Without a key (a load balancer's or orchestrator's probe) only the status code and
    `ready` answer; with a key, what each check found (which may name hosts and paths)."""
    checks = await anyio.to_thread.run_sync(_checks, state)
    ready = all(c.ok for c in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    if credentials is None and state.keyring is not None:
        return Readiness(ready=ready, checks={})
    get_caller(request, state, credentials)  # a key that is given must be valid
    return Readiness(ready=ready, checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: StateDep, caller: CallerDep) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


def _checks(state: ServiceState) -> dict[str, Check]:
    pipeline = state.pipeline
    checks: dict[str, Check] = {}
    indexed = len(pipeline.retriever)
    checks["index"] = Check(ok=indexed > 0, detail=f"{indexed} APIs indexed")
    try:
        detail = f"{pipeline.store.count()} APIs, {pipeline.tasks.count()} tasks"
        checks["database"] = Check(ok=True, detail=detail)
    except Exception as exc:  # any driver error means "not reachable"; the detail says which
        checks["database"] = Check(ok=False, detail=f"{type(exc).__name__}: {exc}")
    try:
        pipeline.executor.check()
        checks["sandbox"] = Check(ok=True, detail=pipeline.executor.name)
    except SandboxError as exc:
        checks["sandbox"] = Check(ok=False, detail=str(exc))
    draining = state.admission.draining
    checks["accepting"] = Check(ok=not draining, detail="shutting down" if draining else "")
    return checks
