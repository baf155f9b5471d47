"""`/v1/tasks`: run a request through the pipeline, read tasks back, give feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from agent.pipeline import TaskRequest
from agent.service.deps import CallerDep, StateDep, run_task
from agent.service.schemas import (
    FeedbackCreate,
    FeedbackResult,
    TaskCreate,
    TaskPage,
    TaskPublic,
    error_responses,
)

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
_ERRORS = error_responses(401, 404, 429, 503)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskPublic,
    responses=_ERRORS,
    summary="Turn a request into a verified API call",
)
async def create_task(body: TaskCreate, state: StateDep, caller: CallerDep) -> TaskPublic:
    """Retrieve, route, generate, execute, reward, learn. The task is stored before this
    answers; a full queue answers 503 with `Retry-After` and runs nothing."""

    def work() -> TaskPublic:
        request = TaskRequest(
            body.query,
            hub=body.hub,
            k=body.k,
            arm=body.arm,
            policy=body.policy,
            weights=body.weights,
            execute=body.execute,
            owner=caller.owner,
        )
        return TaskPublic.from_task(state.run_pipeline(request))

    return await run_task(state, work)


@router.get(
    "", response_model=TaskPage, responses=_ERRORS, summary="Your tasks (all, for admin keys)"
)
def list_tasks(
    state: StateDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> TaskPage:
    owner = None if caller.admin else caller.owner
    rows = state.pipeline.tasks.recent(limit, int(cursor) if cursor else None, owner=owner)
    items = [TaskPublic.from_task(task) for _, task in rows]
    more = len(rows) == limit
    return TaskPage(items=items, next_cursor=str(rows[-1][0]) if rows and more else None)


@router.get("/{task_id}", response_model=TaskPublic, responses=_ERRORS, summary="One task")
def get_task(task_id: str, state: StateDep, caller: CallerDep) -> TaskPublic:
    """Another key's task answers 404 (admin keys read every task)."""
    owner = None if caller.admin else caller.owner
    return TaskPublic.from_task(state.pipeline.tasks.get(task_id, owner=owner))


@router.post(
    "/{task_id}/feedback",
    response_model=FeedbackResult,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 200: {"model": FeedbackResult, "description": "Already recorded"}},
    summary="Human feedback: a second reward for the arm that served the task",
)
def give_feedback(
    task_id: str, body: FeedbackCreate, state: StateDep, caller: CallerDep, response: Response
) -> FeedbackResult:
    """Once per task and API key, on your own tasks: a repeat answers 200 with
    `recorded: false` and changes nothing; another key's task answers 404."""
    source = f"api:{caller.id}"
    owner = None if caller.admin else caller.owner
    recorded = state.pipeline.feedback(
        task_id, body.score, source=source, comment=body.comment, owner=owner
    )
    if recorded:
        state.metrics.feedback.labels("api", str(body.score)).inc()
    else:
        response.status_code = status.HTTP_200_OK
    return FeedbackResult(task_id=task_id, source=source, recorded=recorded)
