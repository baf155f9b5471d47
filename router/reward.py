"""The router's reward: R = w_acc·accuracy − w_cost·cost_norm − w_lat·latency_norm.

As in PickLLM, latency enters on a log scale: `latency_norm` is 0 at `latency_floor_s`, 1 at
`latency_ceiling_s`, and log-linear between. `cost_norm` is the cost over a reference,
capped at 1: by default (`cost_ref_usd` unset) the mean cost per request of the dearest arm
seen so far, so that arm's requests cost 1 and a free arm's 0 whatever the prices are (a
pool of local models priced by the compute hour and one of hosted models priced by the
token get the same spread); or a fixed price that counts as expensive. Accuracy is the
verification's (`agent.calls.verify`). Policies learn from the reward mapped onto [0, 1]
(`normalised`), so one learning rate means the same thing whatever the weights.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.errors import PolicyConfigError


class RewardWeights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: float = Field(1.0, ge=0)
    cost: float = Field(0.2, ge=0)
    latency: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> RewardWeights:
        if self.accuracy + self.cost + self.latency <= 0:
            raise ValueError("at least one reward weight must be positive")
        return self

    @classmethod
    def parse(cls, text: str) -> RewardWeights:
        """`"1,0.2,0.2"` (accuracy, cost, latency) as on the command line."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3:
            raise PolicyConfigError(f"weights must be 'acc,cost,lat', got {text!r}")
        try:
            acc, cost, lat = (float(p) for p in parts)
            return cls(accuracy=acc, cost=cost, latency=lat)
        except ValueError as exc:
            raise PolicyConfigError(f"bad weights {text!r}: {exc}") from exc


class RewardScale(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: relative to the dearest arm's mean cost per request (`dearest` below).
    cost_ref_usd: float | None = Field(None, gt=0)
    latency_floor_s: float = Field(0.01, gt=0)
    latency_ceiling_s: float = Field(60.0, gt=0)

    def cost_norm(self, cost: float, dearest: float | None = None) -> float:
        """`cost` on [0, 1]. `dearest` is the highest mean cost per request among the
        arms so far, the reference when no fixed one is set (none yet: any cost is 1)."""
        reference = self.cost_ref_usd or dearest
        cost = max(cost, 0.0)
        if not reference:
            return 1.0 if cost > 0 else 0.0
        return min(cost / reference, 1.0)

    def latency_norm(self, latency_s: float) -> float:
        if latency_s <= self.latency_floor_s:
            return 0.0
        span = math.log(self.latency_ceiling_s / self.latency_floor_s)
        return min(math.log(latency_s / self.latency_floor_s) / span, 1.0)


def reward(
    accuracy: float,
    cost: float,
    latency_s: float,
    weights: RewardWeights,
    scale: RewardScale | None = None,
    *,
    dearest: float | None = None,
) -> float:
    scale = scale or RewardScale()
    return (
        weights.accuracy * accuracy
        - weights.cost * scale.cost_norm(cost, dearest)
        - weights.latency * scale.latency_norm(latency_s)
    )


def normalised(value: float, weights: RewardWeights) -> float:
    """`value` mapped from [−(w_cost + w_lat), w_acc] onto [0, 1]."""
    low = -(weights.cost + weights.latency)
    span = weights.accuracy - low
    return min(max((value - low) / span, 0.0), 1.0)
