"""Serving from the router's ranking, and teaching it: the rules the pipeline and the
evaluator share (the evaluator replays logged outcomes, so it cannot call the pipeline).

- the first arm in the policy's ranking that can answer serves; an arm that cannot
  (`ArmUnavailableError`, a `ConfigError` such as a missing model) is an infrastructure
  failure, recorded for that arm and never taught as a wrong answer;
- the served arm is rewarded only when its outcome trains the router
  (`agent.executor.trains_router`: an `infra_error` execution never does);
- a routed request whose call does not verify escalates from the arm the router chose to
  the others in the order of what a call by each has cost so far, cheapest first
  (`ArmCosts`): "stronger" means the arm one pays more for, whatever the policy's scores
  of the others happen to be.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agent.errors import ArmUnavailableError, ConfigError
from router import RewardWeights, RouteContext, Router

logger = logging.getLogger("toolroute.pipeline")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Failure:
    """An arm that could not answer, and why."""

    arm: str
    error: str


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    """What the first arm that could answer gave (`arm` None: none could)."""

    arm: str | None
    value: T | None
    failures: list[Failure] = field(default_factory=list)


def first_available(ranking: Sequence[str], answer_with: Callable[[str], T]) -> Served[T]:
    """Ask the arms in ranking order until one answers."""
    failures: list[Failure] = []
    for arm in ranking:
        try:
            return Served(arm, answer_with(arm), failures)
        except (ArmUnavailableError, ConfigError) as exc:
            # Not the arm's answer being wrong: it could not answer at all.
            logger.warning("arm %s could not answer: %s", arm, exc)
            failures.append(Failure(arm, str(exc)))
    return Served(None, None, failures)


def teach(
    router: Router,
    context: RouteContext,
    served_arm: str | None,
    failures: Sequence[Failure],
    *,
    trains: bool,
    accuracy: float,
    cost: float,
    latency_s: float,
    weights: RewardWeights | None = None,
) -> float | None:
    """Record the failures, then reward the served arm (if its outcome trains the router).
    Returns the reward, or None when nothing was rewarded."""
    for failure in failures:
        if failure.arm in router.arms:
            router.record_infra_failure(failure.arm)
    if served_arm is None or not trains or served_arm not in router.arms:
        return None
    return router.update(
        served_arm, context, accuracy=accuracy, cost=cost, latency_s=latency_s, weights=weights
    )


class ArmCosts:
    """The mean cost of one generation by each arm, as observed in this process.

    Costs are facts about the arms (their price, their speed here), not something to share
    between replicas: each learns them from its own first calls. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[str, tuple[int, float]] = {}

    def record(self, arm: str, cost: float) -> None:
        with self._lock:
            count, total = self._totals.get(arm, (0, 0.0))
            self._totals[arm] = (count + 1, total + cost)

    def mean(self, arm: str) -> float | None:
        with self._lock:
            count, total = self._totals.get(arm, (0, 0.0))
        return total / count if count else None

    def escalation(self, ranking: Sequence[str]) -> list[str]:
        """The router's choice first, then the other arms cheapest first. An arm not seen
        yet counts as the cheapest (in the router's order): its first call places it. (Put
        last, an arm never reached would never be placed, however cheap.)"""
        if not ranking:
            return []
        first, rest = ranking[0], ranking[1:]
        means = {arm: self.mean(arm) for arm in rest}
        unseen = [arm for arm, m in means.items() if m is None]
        seen = sorted((m, i, arm) for i, (arm, m) in enumerate(means.items()) if m is not None)
        return [first, *unseen, *(arm for _, _, arm in seen)]
