"""Fit the selection's confidence and decline thresholds on development data, and write
`agent/calls/calibration.json`:

    .venv/bin/python -m agent.calls.calibrate [--data-dir DIR] [--json]

- the confidence: a logistic regression of "one of the offered functions fits" on the best
  cosine similarity between the request and the offered functions, over the `choose`
  (fits) and `decline` (does not) development cases (`agent.calls.dataset`), measured
  through the same toolset retrieval the service uses;
- `decline_below`: the confidence threshold with the best balanced accuracy (the mean of
  "relevant requests get a call" and "irrelevant ones do not") under 5-fold
  cross-validation by source request, so that no request's own cases choose its
  threshold; ties go to the lower threshold (calling is the safer error for an agent,
  which can still ignore a call);
- `python_min_similarity`: model APIs (APIBench) are described at length and score lower;
  every APIBench development question (`question_id % 5 == 0`) has an answer, so the
  floor is the 1% quantile of their best similarity: at most 1% of them are declined.

Only development data is read: the OpenFunctions set and APIBench's dev split.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.calls.dataset import build_cases
from agent.calls.select import CALIBRATION_FILE, default_calibration
from agent.jsontypes import JSONObject

FOLDS = 5
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
FloatArray = npt.NDArray[np.float64]


def fit_logistic(x: FloatArray, y: FloatArray, iterations: int = 50) -> tuple[float, float]:
    """Slope and intercept by Newton's method (deterministic), with a tiny ridge so that
    separable data still converges."""
    slope, intercept = 0.0, 0.0
    features = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(features @ np.array([slope, intercept]))))
        gradient = features.T @ (p - y) + 1e-3 * np.array([slope, 0.0])
        hessian = (features.T * (p * (1 - p))) @ features + 1e-3 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        slope, intercept = slope - float(step[0]), intercept - float(step[1])
        if float(np.abs(step).max()) < 1e-9:
            break
    return slope, intercept


def best_similarities(data_dir: Path) -> tuple[FloatArray, FloatArray, list[int]]:
    """(best similarity, fits, source request) for every choose and decline case."""
    from agent.settings import Settings
    from agent.toolset import ToolsetCache
    from retriever import HybridRetriever
    from retriever.embedder import SentenceTransformerEmbedder

    settings = Settings(data_dir=data_dir)
    embedder = SentenceTransformerEmbedder(settings.embedder_model)
    toolsets = ToolsetCache(embedder, settings.retriever_config(embedder), capacity=4)
    rows: list[tuple[float, float, int]] = []
    try:
        for case in build_cases():
            if case.kind == "single":
                continue
            retriever: HybridRetriever = toolsets.get(case.tools).retriever
            hits = retriever.search(case.question, 5)
            best = max((h.similarity or 0.0) for h in hits) if hits else 0.0
            rows.append((best, 0.0 if case.kind == "decline" else 1.0, case.source))
    finally:
        toolsets.close()
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    return x, y, [r[2] for r in rows]


def cross_validated(
    x: FloatArray, y: FloatArray, sources: Sequence[int]
) -> tuple[FloatArray, list[JSONObject]]:
    """Out-of-fold confidences, and the figures each threshold gives on them."""
    folds = np.array([s % FOLDS for s in sources])
    confidence = np.zeros_like(x)
    for fold in range(FOLDS):
        train = folds != fold
        slope, intercept = fit_logistic(x[train], y[train])
        confidence[~train] = 1 / (1 + np.exp(-(slope * x[~train] + intercept)))
    table: list[JSONObject] = []
    for threshold in THRESHOLDS:
        called = confidence >= threshold
        relevant_called = float(called[y == 1].mean())
        no_call = float((~called)[y == 0].mean())
        table.append(
            {
                "decline_below": threshold,
                "relevant_called": round(relevant_called, 4),
                "no_call": round(no_call, 4),
                "balanced": round((relevant_called + no_call) / 2, 4),
            }
        )
    return confidence, table


def python_floor(data_dir: Path, quantile: float = 0.01) -> tuple[float, int]:
    """The best similarity that all but `quantile` of APIBench's dev questions reach, with
    the shipped embedder (a tuned one has its own floor: `out_of_fold_floor`)."""
    from agent.pipeline import open_catalog_retriever
    from agent.settings import Settings
    from retriever.benchmark import load_questions

    retriever = open_catalog_retriever(
        Settings(data_dir=data_dir, embedder_model=None, embedder_tuning="off", rerank="off")
    )
    best: list[float] = []
    for hub in ("huggingface", "torchhub", "tensorflowhub"):
        for question in load_questions(hub, "dev"):
            hits = retriever.search(question.text, 5, hub=hub)
            best.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
    retriever.store.close()
    return math.floor(float(np.quantile(best, quantile)) * 100) / 100, len(best)


def out_of_fold_floor(cv_models: Path, quantile: float = 0.01) -> tuple[float, int]:
    """The floor for the default tuned embedder, which was trained on the dev questions, so
    their similarities under it say nothing about new requests. Instead, each dev question
    is scored by the model of its cross-validation fold (`cv_models/fold{k}`, trained
    without that fold by `scripts/dev_cv.py train`), in a scratch index of the default
    catalog."""
    from retriever.benchmark import DEV_FOLDS, dev_fold, load_questions, scratch_default_index
    from retriever.embedder import SentenceTransformerEmbedder

    best: list[float] = []
    for fold in range(DEV_FOLDS):
        embedder = SentenceTransformerEmbedder(cv_models / f"fold{fold}")
        with scratch_default_index(embedder) as retriever:
            for hub in ("huggingface", "torchhub", "tensorflowhub"):
                for question in load_questions(hub, "dev"):
                    if dev_fold(question) != fold:
                        continue
                    hits = retriever.search(question.text, 5, hub=hub)
                    best.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
        sys.stderr.write(f"fold {fold}: {len(best)} questions so far\n")
    return math.floor(float(np.quantile(best, quantile)) * 100) / 100, len(best)


def tuned_floor_entry(cv_models: Path) -> JSONObject:
    floor, questions = out_of_fold_floor(cv_models)
    return {
        "python_min_similarity": floor,
        "provenance": (
            f"python -m agent.calls.calibrate --cv-models DIR, "
            f"{datetime.now(UTC).date().isoformat()}: 1% quantile of the best similarity of "
            f"{questions} APIBench dev questions, each under the model of the 5-fold "
            "cross-validation that did not train on it (scripts/dev_cv.py train)"
        ),
    }


def calibrate(data_dir: Path) -> JSONObject:
    x, y, sources = best_similarities(data_dir)
    slope, intercept = fit_logistic(x, y)
    _, table = cross_validated(x, y, sources)
    chosen = max(table, key=lambda row: (row["balanced"], -row["decline_below"]))
    floor, questions = python_floor(data_dir)
    previous = default_calibration()
    return {
        "slope": round(slope, 4),
        "intercept": round(intercept, 4),
        "decline_below": chosen["decline_below"],
        "python_min_similarity": floor,
        "fallback_within": previous.fallback_within,
        "provenance": (
            f"python -m agent.calls.calibrate, {datetime.now(UTC).date().isoformat()}: "
            f"logistic fit on {int((y == 1).sum())} choose and {int((y == 0).sum())} decline "
            f"cases (agent/calls/dataset.py, seed 0); threshold by 5-fold cross-validation "
            f"(relevant_called {chosen['relevant_called']}, no_call {chosen['no_call']}); "
            f"python floor: 1% quantile over {questions} APIBench dev questions; "
            "fallback_within kept (chosen with `toolroute bench calls` on the choose cases, "
            "BENCHMARKS.md)"
        ),
        "cross_validation": table,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.calls.calibrate", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help="Data dir (its index).")
    parser.add_argument("--json", action="store_true", help="Print; do not write the file.")
    parser.add_argument(
        "--cv-models",
        type=Path,
        default=None,
        help="Only (re)compute the default tuned embedder's floor, from the fold models "
        "of scripts/dev_cv.py train in this dir; keep the rest of the file.",
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir
    if data_dir is None:
        from agent.settings import Settings

        data_dir = Settings().data_dir
    if args.cv_models is not None:
        from agent.embedding import DEFAULT_TUNED_MODEL

        result = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
        result.setdefault("by_embedder", {})[DEFAULT_TUNED_MODEL] = tuned_floor_entry(
            args.cv_models
        )
    else:
        result = calibrate(Path(data_dir))
        previous = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
        if "by_embedder" in previous:
            result["by_embedder"] = previous["by_embedder"]
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        sys.stdout.write(text)
        return
    CALIBRATION_FILE.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {CALIBRATION_FILE}\n")


if __name__ == "__main__":
    main()
