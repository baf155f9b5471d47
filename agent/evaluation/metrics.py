"""Figures from the prediction files alone, so a resumed or copied run reports the same.

Per hub, for what the router served and (with counterfactual answers) for every arm on
every question: Gorilla's AST accuracy with hallucination and error rates, strict exact-API
accuracy, execution outcomes, cost per 1,000 requests, latency p50/p95 and tokens. For the
router: cumulative reward, regret against the best fixed arm in hindsight and against the
per-question oracle, each arm's share over time, and the step where the policy settled.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


def read_predictions(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as source:
        return [json.loads(line) for line in source if line.strip()]


def outcome_figures(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, execution, cost and latency over answers (served or one arm's)."""
    n = len(outcomes)
    if n == 0:
        return {"n": 0}
    verdicts = Counter(o["ast"] for o in outcomes)
    statuses = Counter(o["execution_status"] or "none" for o in outcomes)
    latencies = [o["latency_ms"] for o in outcomes]
    costs = [o["cost"] for o in outcomes]
    rewards = [o["reward"] for o in outcomes if o.get("reward") is not None]
    return {
        "n": n,
        "ast_accuracy": verdicts["correct"] / n,
        "hallucination": verdicts["hallucination"] / n,
        "ast_error": verdicts["error"] / n,
        "strict_accuracy": sum(bool(o["strict"]) for o in outcomes) / n,
        "execution": {status: count / n for status, count in sorted(statuses.items())},
        "execution_success": statuses["ok"] / n,
        "cost_per_1k": 1000 * float(np.mean(costs)),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "tokens_in_mean": float(np.mean([o.get("tokens_in", 0) for o in outcomes])),
        "tokens_out_mean": float(np.mean([o.get("tokens_out", 0) for o in outcomes])),
        "mean_reward": float(np.mean(rewards)) if rewards else None,
    }


def router_figures(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How the router did over the question order of `lines`."""
    served = [_reward(line) for line in lines]
    arms = [line["arm"] for line in lines]
    figures: dict[str, Any] = {
        "cumulative_reward": float(np.sum(served)),
        "cumulative_reward_curve": np.cumsum(served).round(4).tolist(),
        "share_over_time": share_over_time(arms),
        "settled_step": settled_step(arms),
        "served": dict(Counter(a or "none" for a in arms)),
    }
    if not lines or "arms" not in lines[0]:
        return figures
    names = list(lines[0]["arms"])
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


def hub_metrics(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {"served": outcome_figures(lines), "router": router_figures(lines)}
    if lines and "arms" in lines[0]:
        per_arm: dict[str, Any] = {}
        for name in lines[0]["arms"]:
            answers = [line["arms"][name] for line in lines]
            available = [a for a in answers if not a.get("unavailable")]
            per_arm[name] = outcome_figures(available) | {
                "unavailable": len(answers) - len(available)
            }
        figures["per_arm"] = per_arm
    else:
        by_arm: dict[str, list[dict[str, Any]]] = {}
        for line in lines:
            by_arm.setdefault(line["arm"] or "none", []).append(line)
        figures["per_arm"] = {name: outcome_figures(rows) for name, rows in by_arm.items()}
    return figures


def share_over_time(arms: Sequence[str | None], window: int = SHARE_WINDOW) -> list[dict[str, Any]]:
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


def _reward(line: dict[str, Any]) -> float:
    return float(line["reward"]) if line.get("reward") is not None else 0.0


def _arm_reward(line: dict[str, Any], name: str) -> float:
    answer = line["arms"][name]
    return float(answer["reward"]) if answer.get("reward") is not None else 0.0


def compute_metrics(out: Path, hubs: Sequence[str], run_info: dict[str, Any]) -> dict[str, Any]:
    by_hub: dict[str, Any] = {}
    everything: list[dict[str, Any]] = []
    for hub in hubs:
        path = out / f"predictions_{hub}.jsonl"
        if not path.exists():
            continue
        lines = read_predictions(path)
        everything += lines
        by_hub[hub] = hub_metrics(lines)
    metrics: dict[str, Any] = {
        "run": run_info,
        "hubs": by_hub,
        "all": {"served": outcome_figures(everything)},
        "anchors_ast_accuracy": ANCHORS,
    }
    logged = Logged.from_lines(everything)
    if logged is not None and len(logged.arms) > 1:
        weights = RewardWeights(**run_info["weights"])
        scale = RewardScale(**run_info.get("scale", {}))
        judged = run_info["reward_mode"] == "judge"
        study = run_study(logged, judged=judged, weights=weights, scale=scale)
        metrics["study"] = study | {"cost_savings": cost_savings(study)}
    return metrics


def cost_savings(study: dict[str, Any]) -> list[dict[str, Any]]:
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


def thinned(metrics: dict[str, Any], points: int = 200) -> dict[str, Any]:
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

    result: dict[str, Any] = thin(metrics)
    return result
