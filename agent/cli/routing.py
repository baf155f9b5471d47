"""`toolroute router show | set | reset`: the bandit router's state and settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli.common import (
    JsonFlag,
    out,
    print_json,
    router_app,
    settings,
)

if TYPE_CHECKING:
    pass


@router_app.command("show")
def router_show(as_json: JsonFlag = False) -> None:
    """Per-arm pulls, mean reward, accuracy, cost and latency, and the active policy."""
    with _opened_router() as router:
        stats = dict(router.stats())
    if as_json:
        print_json(stats)
        return
    weights = stats["weights"]
    from rich.table import Table  # here: 20 ms of every start

    table = Table(
        title=f"policy {stats['policy']} (weights acc {weights['accuracy']}, "
        f"cost {weights['cost']}, lat {weights['latency']})"
    )
    for column in ("arm", "pulls", "reward", "accuracy", "cost", "latency ms", "infra fails"):
        table.add_column(column, justify="right")
    for name, arm in stats["arms"].items():
        table.add_row(
            name,
            str(arm["pulls"]),
            _fmt(arm["mean_reward"]),
            _fmt(arm["accuracy"]),
            _fmt(arm["mean_cost"], 6),
            _fmt(arm["mean_latency_ms"], 0),
            str(arm["infra_failures"]),
        )
    out.print(table)


@router_app.command("set")
def router_set(
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="The active policy (thompson, sla, linucb, fixed:ARM, ...)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Default reward weights 'acc,cost,lat'."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the active policy and/or reward weights (kept in the data dir, like
    `PUT /v1/router`). What the router has learned is kept."""
    from router import PolicyConfigError, RewardWeights

    if policy is None and weights is None:
        raise PolicyConfigError("nothing to set: give --policy and/or --weights")
    reward_weights = RewardWeights.parse(weights) if weights else None
    with _opened_router() as router:
        router.configure(policy=policy, weights=reward_weights)
        stats = dict(router.stats())
    if as_json:
        print_json({"policy": stats["policy"], "weights": stats["weights"]})
        return
    w = stats["weights"]
    out.print(
        f"policy {stats['policy']}, weights acc {w['accuracy']}, cost {w['cost']}, "
        f"lat {w['latency']}"
    )


@router_app.command("reset")
def router_reset(as_json: JsonFlag = False) -> None:
    """Forget what the router learned (the active policy and weights stay)."""
    with _opened_router() as router:
        router.reset()
    if as_json:
        print_json({"reset": True})
    else:
        out.print("Router state reset.")


@contextmanager
def _opened_router() -> Iterator[Any]:
    """The data dir's router with the pool's settings, closed afterwards."""
    from agent.pool import load_pool, open_router

    router = open_router(settings(), load_pool(settings()))
    try:
        yield router
    finally:
        router.close()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
