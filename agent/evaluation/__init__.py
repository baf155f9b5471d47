"""Batch evaluation on APIBench: `toolroute eval apibench` (see `runner`).

runner   questions through the real pipeline, predictions streamed per hub
ast_match   Gorilla's AST accuracy, re-implemented with `ast`
metrics  figures from the prediction files
report   report.md
plots    the PNG plots (matplotlib)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agent.evaluation.records import Document
from agent.evaluation.runner import EvalOptions, Evaluator, ProgressCallback

if TYPE_CHECKING:
    from agent.settings import Settings
    from retriever import HybridRetriever

__all__ = ["EvalOptions", "Evaluator", "run_evaluation"]


def run_evaluation(
    settings: Settings,
    retriever: HybridRetriever,
    options: EvalOptions,
    progress: ProgressCallback | None = None,
    *,
    plots: bool = True,
) -> Document:
    """Run (or resume) the evaluation, then write metrics.json, the plots and report.md."""
    from agent.evaluation.metrics import compute_metrics, thinned
    from agent.evaluation.report import write_report

    evaluator = Evaluator(settings, retriever, options)
    evaluator.run(progress)
    metrics = compute_metrics(options.out, options.hubs, evaluator.run_info())
    (options.out / "metrics.json").write_text(json.dumps(thinned(metrics), indent=1) + "\n")
    drawn: list[str] = []
    if plots:
        from agent.evaluation.plots import draw_plots

        drawn = draw_plots(options.out, metrics)
    report = write_report(options.out, metrics, drawn)
    return {"metrics": metrics, "report": str(report), "plots": drawn}
