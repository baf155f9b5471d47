"""`toolroute eval apibench`: the batch evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    JsonFlag,
    err,
    eval_app,
    open_retriever,
    open_store,
    out,
    print_json,
    progress_lines,
    rich_progress,
    settings,
)
from agent.jsontypes import JSONObject
from apidb.names import ApibenchSplit

if TYPE_CHECKING:
    from agent.evaluation.records import PredictionLine


# --------------------------------------------------------------------------- eval


@eval_app.command("apibench")
def eval_apibench(
    hub: Annotated[str, typer.Option(help="huggingface, torchhub, tensorflowhub or all.")] = "all",
    split: Annotated[
        ApibenchSplit,
        typer.Option(
            help="heldout: the 80% that published figures use; dev: the 20% choices are "
            "tuned on (question_id % 5 == 0); all: every question (dev ones included)."
        ),
    ] = "heldout",
    limit: Annotated[int | None, typer.Option(min=1, help="At most N questions per hub.")] = None,
    sample: Annotated[
        int | None, typer.Option(help="Shuffle the questions with this seed (then --limit).")
    ] = None,
    arms: Annotated[
        str | None,
        typer.Option(help="Comma-separated arms to route between (default: the pool's)."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated arms scored beside the routed ones but never routed "
            "(default: gorilla, the replay of Gorilla 7B's released answers; '' for none)."
        ),
    ] = None,
    policy: Annotated[str | None, typer.Option(help="Router policy, or fixed:ARM.")] = None,
    weights: Annotated[
        str | None, typer.Option(help="Reward weights 'accuracy,cost,latency'.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Questions in flight at once.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
        "reports/latest"
    ),
    resume: Annotated[
        bool, typer.Option(help="Continue a run in --out after its last complete line.")
    ] = False,
    reward: Annotated[
        str, typer.Option(help="execution (sandbox outcome) or judge (the AST verdict).")
    ] = "execution",
    counterfactual: Annotated[
        bool,
        typer.Option(help="Also ask every arm every question (per-arm figures and regret)."),
    ] = True,
    plots: Annotated[bool, typer.Option(help="Draw the PNG plots beside the report.")] = True,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Answer on a Ray cluster: its address, auto, or local (start one here); "
            "--workers actors.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the real pipeline over the APIBench eval questions: predictions, metrics.json,
    report.md and plots in --out."""
    from agent.errors import ConfigError
    from apidb.names import APIBENCH_HUBS

    # Checked before anything loads: a wrong argument answers at once.
    if hub != "all" and hub not in APIBENCH_HUBS:
        raise ConfigError(f"unknown hub {hub!r}; choose all or one of: {', '.join(APIBENCH_HUBS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory")

    from agent.evaluation import EvalOptions, run_evaluation
    from router import RewardWeights

    hubs = list(APIBENCH_HUBS) if hub == "all" else [hub]
    options = EvalOptions(
        out=out_dir,
        hubs=hubs,
        limit=limit,
        sample_seed=sample,
        split=split,
        arms=[a.strip() for a in arms.split(",") if a.strip()] if arms else None,
        references=(
            [a.strip() for a in reference.split(",") if a.strip()]
            if reference is not None
            else None
        ),
        policy=policy,
        weights=RewardWeights.parse(weights) if weights else None,
        workers=workers,
        resume=resume,
        reward_mode=reward,  # type: ignore[arg-type]  # checked by the evaluator
        counterfactual=counterfactual,
        ray=ray,
    )
    retriever = open_retriever(open_store(), show_progress=not as_json)
    with _eval_progress(enabled=not as_json) as on_line:
        result = run_evaluation(settings(), retriever, options, on_line, plots=plots)
    if as_json:
        print_json(result["metrics"])
        return
    from rich.table import Table  # here: 20 ms of every start

    table = Table(title=f"APIBench ({split} split), reward mode {reward}", box=None)
    for column in ("hub", "n", "AST acc", "halluc.", "strict", "exec ok", "$/1k req", "p50 ms"):
        table.add_column(column, justify="right")
    for name, figures in result["metrics"]["hubs"].items():
        f = figures["served"]
        table.add_row(
            name,
            str(f["n"]),
            f"{100 * f['ast_accuracy']:.2f}",
            f"{100 * f['hallucination']:.2f}",
            f"{100 * f['strict_accuracy']:.2f}",
            f"{100 * f['execution_success']:.2f}",
            f"{f['cost_per_1k']:.4f}",
            f"{f['latency_p50_ms']:.1f}",
        )
    out.print(table)
    out.print(f"report: {result['report']}")


@contextmanager
def _eval_progress(enabled: bool) -> Iterator[Callable[[str, PredictionLine, int], None] | None]:
    """One bar per hub, with the running AST accuracy and cost of what was served; plain
    lines per hub when stderr is not a terminal or the output is JSON."""
    if not enabled or not err.is_terminal:
        lines: dict[str, tuple[list[int], Callable[[int, int], None]]] = {}

        def on_plain_line(hub: str, line: PredictionLine, total: int) -> None:
            seen, tick = lines.setdefault(hub, ([0], progress_lines(f"eval {hub}")))
            seen[0] += 1
            tick(seen[0], total)

        yield on_plain_line
        return
    with rich_progress() as bar:
        tasks: JSONObject = {}
        totals: dict[str, list[float]] = {}

        def on_line(hub: str, line: PredictionLine, total: int) -> None:
            if hub not in tasks:
                tasks[hub] = bar.add_task(hub, total=total)
                totals[hub] = [0, 0, 0.0]
            seen = totals[hub]
            seen[0] += 1
            seen[1] += line.ast == "correct"
            seen[2] += line.cost
            label = (
                f"{hub}: AST {100 * seen[1] / seen[0]:.1f}% · ${1000 * seen[2] / seen[0]:.4f}/1k"
            )
            bar.update(tasks[hub], advance=1, description=label)

        yield on_line
