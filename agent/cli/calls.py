"""`toolroute bench calls`: right calls on the function-calling development cases, per arm
and routed, through the same code as `/v1/chat/completions` (`agent.chat.bench`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import (
    JsonFlag,
    bench_app,
    open_retriever,
    open_store,
    out,
    print_json,
    progress_bar,
    settings,
)
from agent.errors import ConfigError
from agent.jsontypes import JSONObject

CaseKindOption = Annotated[
    list[str] | None,
    typer.Option("--kind", help="Only these kinds of case: single, choose, decline (repeatable)."),
]


@bench_app.command("calls")
def bench_calls(
    arms: Annotated[
        list[str] | None,
        typer.Option(
            "--arm",
            help="Arm to measure (repeatable); `routed` is the pool under the router. "
            "Default: every routed arm of the pool, then routed.",
        ),
    ] = None,
    kinds: CaseKindOption = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N cases of each kind (the first N).")
    ] = None,
    seed: Annotated[int, typer.Option(help="The seed the cases are built with.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Right function, right arguments, and declining, on the OpenFunctions development
    cases (one function; 2-4 functions; none that fits)."""
    from agent.calls.dataset import CASE_KINDS, build_cases
    from agent.chat.bench import ROUTED, run_calls_benchmark
    from agent.pipeline import Pipeline
    from agent.pool import load_pool

    unknown_kinds = sorted(set(kinds or []) - set(CASE_KINDS))
    if unknown_kinds:
        raise ConfigError(f"unknown case kind {unknown_kinds[0]!r}; use {', '.join(CASE_KINDS)}")
    config = settings()
    pool = load_pool(config)
    names = list(pool.arms)
    models = arms or [*pool.routed_arms(), ROUTED]
    for model in models:
        if model != ROUTED and model not in names:
            raise ConfigError(f"unknown arm {model!r}; valid names: {', '.join([*names, ROUTED])}")
    cases = [c for c in build_cases(seed) if not kinds or c.kind in kinds]
    if limit is not None:
        cases = [c for kind in CASE_KINDS for c in [c for c in cases if c.kind == kind][:limit]]
    retriever = open_retriever(open_store(), show_progress=not as_json)
    total = len(cases) * len(models)
    with tempfile.TemporaryDirectory(prefix="toolroute-bench-calls-") as scratch:
        scratch_settings = config.scratch(Path(scratch))
        with (
            Pipeline.open(scratch_settings, retriever=retriever, pool_config=pool) as pipeline,
            progress_bar(f"bench calls: {len(cases)} cases x {len(models)}", True) as tick,
        ):
            done = 0

            def step() -> None:
                nonlocal done
                done += 1
                tick(done, total)

            figures = run_calls_benchmark(pipeline, cases, models, progress=step)
    if as_json:
        print_json(figures)
        return
    _print_table(figures)


def _print_table(figures: dict[str, JSONObject]) -> None:
    from rich.table import Table  # here: 20 ms of every start

    table = Table(title="Right calls (OpenFunctions development cases)", box=None)
    columns = (
        "arm", "single fn", "single exact", "choose fn", "choose exact", "decline no-call",
        "relevant called", "p50 ms", "p95 ms", "$/1k",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for model, f in figures.items():
        table.add_row(
            model,
            _pct(f["single"]["function"]),
            _pct(f["single"]["exact"]),
            _pct(f["choose"]["function"]),
            _pct(f["choose"]["exact"]),
            _pct(f["decline"]["no_call"]),
            _pct(f["relevant_called"]),
            f"{f['p50_ms']:.0f}" if f["p50_ms"] is not None else "-",
            f"{f['p95_ms']:.0f}" if f["p95_ms"] is not None else "-",
            f"{f['cost_per_1k']:.4f}",
        )
    out.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
