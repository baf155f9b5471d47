"""`toolroute ask`: one request through the whole pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    HubOption,
    JsonFlag,
    app,
    checked_hub,
    open_retriever,
    open_store,
    out,
    print_json,
    settings,
)

if TYPE_CHECKING:
    from agent.task import TaskResult


# --------------------------------------------------------------------------- ask


@app.command()
def ask(
    query: Annotated[str, typer.Argument(help="What you want done, in your words.")],
    arm: Annotated[
        str | None, typer.Option("--arm", help="Use this arm instead of routing.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Routing policy for this request (sla, linucb, ...)."),
    ] = None,
    k: Annotated[
        int, typer.Option("-k", "--k", min=1, max=100, help="How many APIs to retrieve (1-100).")
    ] = 5,
    hub: HubOption = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Reward weights 'acc,cost,lat' for this request."),
    ] = None,
    no_execute: Annotated[
        bool, typer.Option("--no-execute", help="Generate the call but do not run it.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Turn a request into a verified API call: retrieve, route, generate, execute, learn."""
    from router import RewardWeights

    # Every argument is checked before a model loads: a mistake answers at once.
    reward_weights = RewardWeights.parse(weights) if weights else None
    _check_arm_and_policy(arm, policy)
    store = open_store()
    hub = checked_hub(store, hub)

    from agent.pipeline import Pipeline

    retriever = open_retriever(store, show_progress=not as_json)
    with Pipeline.open(settings(), retriever=retriever) as pipeline:
        task = pipeline.run(
            query,
            hub=hub,
            k=k,
            arm=arm,
            policy=policy,
            weights=reward_weights,
            execute=not no_execute,
            owner="local",
        )
    if as_json:
        print_json(task.model_dump(mode="json", by_alias=True, exclude={"feedback"}))
        return
    _print_task(task)


def _check_arm_and_policy(arm: str | None, policy: str | None) -> None:
    """Raises `UnknownArmError` / `UnknownPolicyError` for an arm or policy the pool lacks."""
    from agent.errors import UnknownArmError
    from agent.pool import load_pool
    from router.registry import parse_policy

    arms = list(load_pool(settings()).arms)
    if arm is not None and arm not in arms:
        raise UnknownArmError(arm, arms)
    if policy is not None:
        parse_policy(policy, arms)


def _print_task(task: TaskResult) -> None:
    from rich.table import Table  # here: 20 ms of every start

    table = Table(title=f"APIs for: {task.query}", box=None, padding=(0, 1))
    for column in ("#", "score", "id", "call"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(task.hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.id, hit.call)
    out.print(table)
    routing = task.routing
    scores = ", ".join(
        f"{name} {score:.3f}" if score is not None else f"{name} -"
        for name, score in (routing.scores.items() if routing else ())
    )
    policy = routing.policy if routing else "-"
    out.print(f"[bold]arm[/]       {task.arm}  (policy {policy}: {scores or 'n/a'})")
    for fallback in task.fallbacks:
        out.print(f"[yellow]fallback[/]  {fallback.arm} failed: {fallback.error}")
    out.print(f"[bold]call[/]      {task.call}", highlight=False)
    out.print(f"[bold]api[/]       {task.api_id or '(none: not in the catalog)'}")
    execution = task.execution
    if execution is not None:
        colour = "green" if execution.status == "ok" else "red"
        out.print(
            f"[bold]execution[/] [{colour}]{execution.status}[/] {execution.output}",
            highlight=False,
        )
    reward = "-" if task.reward is None else f"{task.reward:.3f}"
    out.print(
        f"[bold]reward[/]    {reward}   latency {task.latency_ms:.0f} ms   "
        f"cost ${task.cost:.6f}   task {task.task_id}"
    )
