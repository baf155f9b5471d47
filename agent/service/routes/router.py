"""`/v1/router`: what the bandit has learned, and its settings."""

from __future__ import annotations

from fastapi import APIRouter

from agent.service.deps import AdminDep, CallerDep, StateDep
from agent.service.schemas import RouterPublic, RouterUpdate, error_responses
from router import valid_policy_names

router = APIRouter(prefix="/v1/router", tags=["router"])
_ERRORS = error_responses(401, 422, 429)


def _public(state: StateDep) -> RouterPublic:
    stats = state.pipeline.router.stats()
    arms = state.pipeline.router.arms
    names = valid_policy_names(arms)
    return RouterPublic.model_validate({**stats, "policies": names})


@router.get("", response_model=RouterPublic, responses=_ERRORS, summary="Per-arm statistics")
def get_router(state: StateDep, caller: CallerDep) -> RouterPublic:
    """Pulls, mean reward, accuracy, cost and latency per arm, with the active policy's
    current (context-free) score for each."""
    return _public(state)


@router.put(
    "",
    response_model=RouterPublic,
    responses=error_responses(401, 403, 422, 429),
    summary="Set policy or weights (admin)",
)
def put_router(body: RouterUpdate, state: StateDep, caller: AdminDep) -> RouterPublic:
    state.pipeline.router.configure(policy=body.policy, weights=body.weights)
    return _public(state)


@router.post(
    ":reset",
    response_model=RouterPublic,
    responses=error_responses(401, 403, 429),
    summary="Forget what was learned (admin)",
)
def reset_router(state: StateDep, caller: AdminDep) -> RouterPublic:
    state.pipeline.router.reset()
    return _public(state)
