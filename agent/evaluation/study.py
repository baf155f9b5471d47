"""The router studied offline on a run's logged outcomes (PickLLM's experiments).

With counterfactual answers every question has every arm's outcome: whether its call was
correct, what it cost and how long it took. Fresh policies are replayed over the same
question order, each choosing from the routing features the run logged and learning
only the reward of the arm it chose, so policies, reward weights and learning rates are
compared on identical data without running a model again. The live run's own router is
one of these trajectories; the study adds the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.evaluation.records import ArmOutcome, Document, PredictionLine
from router import DEFAULT_POLICY, RewardWeights, RouteContext
from router.features import FEATURE_DIM
from router.registry import make_policy
from router.reward import RewardScale, normalised, reward
from router.simulate import within_of_best

STUDY_POLICIES = ("sla", "qlearning", "ucb1", "thompson", "linucb", "random")
# The router's operating points on the frontier: the default policy, PickLLM's automaton and
# the contextual one.
FRONTIER_POLICIES = tuple(dict.fromkeys((DEFAULT_POLICY, "sla", "linucb")))
# Weight settings for the cost-accuracy frontier: from accuracy only to cost-heavy.
FRONTIER_WEIGHTS = (
    RewardWeights(accuracy=1.0, cost=0.0, latency=0.0),
    RewardWeights(accuracy=1.0, cost=0.2, latency=0.2),
    RewardWeights(accuracy=1.0, cost=0.5, latency=0.0),
    RewardWeights(accuracy=1.0, cost=1.0, latency=0.0),
    RewardWeights(accuracy=1.0, cost=2.0, latency=0.5),
)
LEARNING_RATES = {"sla": ("beta", (0.01, 0.05, 0.1, 0.3, 0.6)),
                  "qlearning": ("alpha", (0.01, 0.05, 0.1, 0.3, 0.6))}  # fmt: skip
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Logged:
    """Every arm's outcome on every question, in question order."""

    arms: list[str]
    hubs: list[str | None]
    contexts: list[np.ndarray]
    correct: np.ndarray  # [question, arm]: the AST verdict was "correct"
    executed: np.ndarray  # [question, arm]: the sandbox said ok
    cost: np.ndarray
    latency_s: np.ndarray
    available: np.ndarray

    @classmethod
    def from_lines(cls, lines: Sequence[PredictionLine]) -> Logged | None:
        usable = [line for line in lines if line.arms and line.context]
        if not usable:
            return None
        arms = list(usable[0].arms or {})
        missing = ArmOutcome.unavailable_because("not asked")
        grid = [[(line.arms or {}).get(a, missing) for a in arms] for line in usable]
        return cls(
            arms=arms,
            hubs=[line.hub for line in usable],
            contexts=[np.array(line.context, dtype=float) for line in usable],
            correct=np.array([[o.ast == "correct" for o in row] for row in grid]),
            executed=np.array([[o.execution_status == "ok" for o in row] for row in grid]),
            cost=np.array([[o.cost for o in row] for row in grid]),
            latency_s=np.array([[o.latency_ms for o in row] for row in grid]) / 1000,
            available=np.array([[not o.unavailable for o in row] for row in grid]),
        )

    def rewards(self, weights: RewardWeights, judged: bool, scale: RewardScale) -> np.ndarray:
        accuracy = self.correct if judged else self.executed
        # The reference for a relative cost scale: the dearest arm's mean over the log (the
        # service learns it as it goes; a replay knows it from the start).
        counts = self.available.sum(axis=0)
        means = np.where(self.available, self.cost, 0.0).sum(axis=0) / np.maximum(counts, 1)
        dearest = float(means.max()) if counts.any() else None

        def one(acc: float, cost: float, lat: float) -> float:
            return reward(float(acc), cost, lat, weights, scale, dearest=dearest)

        values = np.vectorize(one)(accuracy, self.cost, self.latency_s)
        return np.where(self.available, values, 0.0)


@dataclass(frozen=True)
class Trajectory:
    policy: str
    weights: RewardWeights
    choices: np.ndarray  # arm index per question
    rewards: np.ndarray
    accuracy: float  # AST accuracy of what it served
    cost_per_1k: float


def replay(
    logged: Logged,
    policy: str,
    weights: RewardWeights,
    *,
    judged: bool,
    scale: RewardScale,
    seed: int = 0,
    **params: Any,
) -> Trajectory:
    table = logged.rewards(weights, judged, scale)
    chooser = make_policy(policy, logged.arms, dim=FEATURE_DIM, seed=seed, **params)
    choices = np.zeros(len(table), dtype=int)
    for t, (features, hub) in enumerate(zip(logged.contexts, logged.hubs, strict=True)):
        context = RouteContext(features, hub)
        allowed = [a for a, ok in zip(logged.arms, logged.available[t], strict=True) if ok]
        arm = chooser.rank(chooser.scores(context), allowed or None)[0]
        i = logged.arms.index(arm)
        choices[t] = i
        chooser.update(arm, context, normalised(float(table[t, i]), weights))
    served = table[np.arange(len(table)), choices]
    return Trajectory(
        policy=policy,
        weights=weights,
        choices=choices,
        rewards=served,
        accuracy=float(logged.correct[np.arange(len(table)), choices].mean()),
        cost_per_1k=float(1000 * logged.cost[np.arange(len(table)), choices].mean()),
    )


def fixed_arm_points(logged: Logged) -> dict[str, tuple[float, float]]:
    """(cost per 1k, AST accuracy) of always using each arm."""
    return {
        arm: (float(1000 * logged.cost[:, i].mean()), float(logged.correct[:, i].mean()))
        for i, arm in enumerate(logged.arms)
    }


def run_study(
    logged: Logged, *, judged: bool, weights: RewardWeights, scale: RewardScale
) -> Document:
    """Everything the plots and the report's study section need, as plain data."""
    table = logged.rewards(weights, judged, scale)
    best = int(np.argmax(table.sum(axis=0)))
    curves: Document = {}
    for policy in STUDY_POLICIES:
        runs = [replay(logged, policy, weights, judged=judged, scale=scale, seed=s) for s in SEEDS]
        mean_rewards = np.mean([r.rewards for r in runs], axis=0)
        steps = np.arange(1, len(table) + 1)[:, None]
        shares = np.mean(
            [np.cumsum(np.eye(len(logged.arms))[r.choices], axis=0) / steps for r in runs], axis=0
        )
        curves[policy] = {
            "cumulative_reward": np.cumsum(mean_rewards).round(4).tolist(),
            "regret_vs_best_fixed": np.cumsum(table[:, best] - mean_rewards).round(4).tolist(),
            "share": {a: shares[:, i].round(4).tolist() for i, a in enumerate(logged.arms)},
            "accuracy": float(np.mean([r.accuracy for r in runs])),
            "cost_per_1k": float(np.mean([r.cost_per_1k for r in runs])),
            "within_5pct_of_best_fixed_at": within_of_best(mean_rewards, table[:, best], 0.05),
        }
    frontier = []
    for w in FRONTIER_WEIGHTS:
        for policy in FRONTIER_POLICIES:
            runs = [replay(logged, policy, w, judged=judged, scale=scale, seed=s) for s in SEEDS]
            frontier.append({
                "policy": policy,
                "weights": [w.accuracy, w.cost, w.latency],
                "accuracy": float(np.mean([r.accuracy for r in runs])),
                "cost_per_1k": float(np.mean([r.cost_per_1k for r in runs])),
            })  # fmt: skip
    rates: Document = {}
    for policy, (param, values) in LEARNING_RATES.items():
        rates[policy] = {"param": param, "values": list(values), "cumulative_reward": []}
        for value in values:
            runs = [
                replay(
                    logged, policy, weights, judged=judged, scale=scale, seed=s, **{param: value}
                )
                for s in SEEDS
            ]
            rates[policy]["cumulative_reward"].append(
                float(np.mean([r.rewards.sum() for r in runs]))
            )
    return {
        "arms": logged.arms,
        "questions": len(table),
        "best_fixed_arm": logged.arms[best],
        "best_fixed_cumulative": np.cumsum(table[:, best]).round(4).tolist(),
        "fixed_arms": {
            a: {"cost_per_1k": c, "accuracy": acc}
            for a, (c, acc) in fixed_arm_points(logged).items()
        },  # fmt: skip
        "policies": curves,
        "default_policy": DEFAULT_POLICY,
        "frontier": frontier,
        "learning_rates": rates,
        "seeds": list(SEEDS),
    }
