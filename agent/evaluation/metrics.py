"""Figures from the prediction files alone, so a resumed or copied run reports the same.

Per hub, for what the router served and (with counterfactual answers) for every arm on
every question: Gorilla's AST accuracy with hallucination and error rates, strict exact-API
accuracy, execution outcomes, cost per 1,000 requests, latency p50/p95 and tokens. For the
router: cumulative reward, regret against the best fixed arm in hindsight and against the
per-question oracle, each arm's share over time, and the step where the policy settled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.evaluation.records import ArmOutcome, Document, PredictionLine, RunInfo
from agent.evaluation.study import Logged, run_study
from router import RewardScale, RewardWeights
from router.simulate import within_of_best

# Gorilla paper (arXiv 2305.15334), Table 1, AST accuracy (%), no retriever unless named.
ANCHORS: dict[str, dict[str, float]] = {
    "Gorilla 7B zero-shot": {"torchhub": 59.13, "huggingface": 71.68, "tensorflowhub": 83.79},
    "GPT-4 zero-shot": {"torchhub": 38.70, "huggingface": 19.80, "tensorflowhub": 18.20},
    "Gorilla 7B, oracle doc": {"torchhub": 67.20, "huggingface": 91.26, "tensorflowhub": 94.16},
}
SHARE_WINDOW = 50  # questions per point of the arm-share curve
SETTLED_SHARE = 0.9  # "settled": from then on, the final favourite gets this share


def read_predictions(path: Path) -> list[PredictionLine]:
    with path.open(encoding="utf-8") as source:
        return [PredictionLine.model_validate_json(line) for line in source if line.strip()]


def outcome_figures(outcomes: Sequence[ArmOutcome]) -> Document:
    """Accuracy, execution, cost and latency over answers (served or one arm's)."""
    n = len(outcomes)
    if n == 0:
        return {"n": 0}
    verdicts = Counter(o.ast for o in outcomes)
    statuses = Counter(o.execution_status or "none" for o in outcomes)
    latencies = [o.latency_ms for o in outcomes]
    costs = [o.cost for o in outcomes]
    rewards = [o.reward for o in outcomes if o.reward is not None]
    return {
        "n": n,
        "ast_accuracy": verdicts["correct"] / n,
        "hallucination": verdicts["hallucination"] / n,
        "ast_error": verdicts["error"] / n,
        "strict_accuracy": sum(o.strict for o in outcomes) / n,
        "execution": {status: count / n for status, count in sorted(statuses.items())},
        "execution_success": statuses["ok"] / n,
        "cost_per_1k": 1000 * float(np.mean(costs)),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "tokens_in_mean": float(np.mean([o.tokens_in for o in outcomes])),
        "tokens_out_mean": float(np.mean([o.tokens_out for o in outcomes])),
        "mean_reward": float(np.mean(rewards)) if rewards else None,
    }


def router_figures(lines: Sequence[PredictionLine]) -> Document:
    """How the router did over the question order of `lines`."""
    served = [line.reward or 0.0 for line in lines]
    arms = [line.arm for line in lines]
    figures: Document = {
        "cumulative_reward": float(np.sum(served)),
        "cumulative_reward_curve": np.cumsum(served).round(4).tolist(),
        "share_over_time": share_over_time(arms),
        "settled_step": settled_step(arms),
        "served": dict(Counter(a or "none" for a in arms)),
    }
    first = lines[0].arms if lines else None
    if first is None:
        return figures
    names = list(first)
    table = np.array([[_arm_reward(line, name) for name in names] for line in lines])
    totals = table.sum(axis=0)
    best = int(np.argmax(totals))
    regret_fixed = np.cumsum(table[:, best] - served)
    regret_oracle = np.cumsum(table.max(axis=1) - served)
    figures |= {
        "best_fixed_arm": names[best],
        "best_fixed_reward": float(totals[best]),
        "regret_vs_best_fixed": float(regret_fixed[-1]),
        "regret_vs_oracle": float(regret_oracle[-1]),
        "regret_vs_best_fixed_curve": regret_fixed.round(4).tolist(),
        "regret_vs_oracle_curve": regret_oracle.round(4).tolist(),
        "within_5pct_of_best_fixed_at": within_of_best(served, table[:, best], 0.05),
    }
    return figures


def hub_metrics(lines: Sequence[PredictionLine]) -> Document:
    figures: Document = {"served": outcome_figures(lines), "router": router_figures(lines)}
    first = lines[0].arms if lines else None
    per_arm: Document = {}
    if first is not None:
        for name in first:
            per_arm[name] = _asked_figures(lines, name, lambda line: line.arms)
    else:
        by_arm: dict[str, list[ArmOutcome]] = {}
        for line in lines:
            by_arm.setdefault(line.arm or "none", []).append(line)
        per_arm = {name: outcome_figures(rows) for name, rows in by_arm.items()}
    for name in (lines[0].references or {}) if lines else ():
        per_arm[name] = _asked_figures(lines, name, lambda line: line.references) | {
            "reference": True
        }
    figures["per_arm"] = per_arm
    return figures


def _asked_figures(
    lines: Sequence[PredictionLine],
    name: str,
    answers_of: Callable[[PredictionLine], dict[str, ArmOutcome] | None],
) -> Document:
    """An arm's figures over the questions it was asked, with how many it could not answer."""
    answers = [
        (answers_of(line) or {}).get(name) or ArmOutcome.unavailable_because("not asked")
        for line in lines
    ]
    available = [a for a in answers if not a.unavailable]
    return outcome_figures(available) | {"unavailable": len(answers) - len(available)}


def share_over_time(arms: Sequence[str | None], window: int = SHARE_WINDOW) -> list[Document]:
    points = []
    for start in range(0, len(arms), window):
        chunk = [a or "none" for a in arms[start : start + window]]
        counts = Counter(chunk)
        points.append({"step": start + len(chunk)} | {a: c / len(chunk) for a, c in counts.items()})
    return points


def settled_step(arms: Sequence[str | None]) -> int | None:
    """The first step from which the final favourite arm is chosen at least
    `SETTLED_SHARE` of the time until the end; None if it never was."""
    if not arms:
        return None
    favourite = Counter(arms[-SHARE_WINDOW:]).most_common(1)[0][0]
    hits = 0
    settled = None
    for step in range(len(arms), 0, -1):
        hits += arms[step - 1] == favourite
        if hits / (len(arms) - step + 1) >= SETTLED_SHARE:
            settled = step
    return settled


def _arm_outcome(line: PredictionLine, name: str) -> ArmOutcome:
    return (line.arms or {}).get(name) or ArmOutcome.unavailable_because("not asked")


def _arm_reward(line: PredictionLine, name: str) -> float:
    return _arm_outcome(line, name).reward or 0.0


def compute_metrics(out: Path, hubs: Sequence[str], run_info: RunInfo) -> Document:
    by_hub: Document = {}
    everything: list[PredictionLine] = []
    for hub in hubs:
        path = out / f"predictions_{hub}.jsonl"
        if not path.exists():
            continue
        lines = read_predictions(path)
        everything += lines
        by_hub[hub] = hub_metrics(lines)
    metrics: Document = {
        "run": run_info.model_dump(),
        "hubs": by_hub,
        "all": {"served": outcome_figures(everything)},
        "anchors_ast_accuracy": ANCHORS,
    }
    logged = Logged.from_lines(everything)
    if logged is not None and len(logged.arms) > 1:
        weights = RewardWeights(**run_info.weights)
        scale = RewardScale(**run_info.scale)
        judged = run_info.reward_mode == "judge"
        study = run_study(logged, judged=judged, weights=weights, scale=scale)
        metrics["study"] = study | {"cost_savings": cost_savings(study)}
    return metrics


def cost_savings(study: Document) -> list[Document]:
    """Each frontier point against always using the most accurate arm: the share of its
    accuracy kept and of its cost paid (PickLLM's cost-saving claim, checked)."""
    fixed = study["fixed_arms"]
    best = max(fixed, key=lambda a: (fixed[a]["accuracy"], -fixed[a]["cost_per_1k"]))
    best_acc, best_cost = fixed[best]["accuracy"], fixed[best]["cost_per_1k"]
    return [
        point
        | {
            "against": best,
            "accuracy_kept": point["accuracy"] / best_acc if best_acc else None,
            "cost_paid": point["cost_per_1k"] / best_cost if best_cost else None,
        }
        for point in study["frontier"]
    ]


def thinned(metrics: Document, points: int = 200) -> Document:
    """A copy for metrics.json with every curve cut to about `points` points."""

    def thin(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: thin(v) for k, v in value.items()}
        if (
            isinstance(value, list)
            and len(value) > points
            and all(isinstance(v, int | float) for v in value[:3])
        ):
            step = -(-len(value) // points)
            return value[::step] + ([value[-1]] if (len(value) - 1) % step else [])
        if isinstance(value, list):
            return [thin(v) for v in value]
        return value

    result: Document = thin(metrics)
    return result
