"""Bandit environments with known arm means, to check and compare policies.

`BernoulliEnvironment` gives each arm a success probability per hub (one row for
non-contextual problems). `simulate` runs a policy for `steps` requests and returns the
cumulative regret against the best arm for each request's hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from router.features import KNOWN_HUBS, FeatureBuilder
from router.policies import FloatArray, Policy, RouteContext


@dataclass(frozen=True)
class BernoulliEnvironment:
    arms: Sequence[str]
    # means[h][a]: success probability of arm a for requests from hub h
    means: Sequence[Sequence[float]]

    def hubs(self) -> list[str]:
        return list(KNOWN_HUBS[: len(self.means)])


@dataclass(frozen=True)
class SimulationResult:
    rewards: FloatArray
    regret: FloatArray  # cumulative
    choices: list[str]

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())


def simulate(
    policy: Policy, env: BernoulliEnvironment, steps: int, seed: int = 0
) -> SimulationResult:
    # Independent of any seed the policy uses: a shared stream would correlate choices
    # with rewards.
    rng = np.random.default_rng([seed, 0x5EED])
    features = FeatureBuilder()
    hubs = env.hubs()
    contexts = [RouteContext(features.build(None, [0.5, 0.2], hub, "python"), hub) for hub in hubs]
    rewards = np.zeros(steps)
    instant_regret = np.zeros(steps)
    choices: list[str] = []
    for t in range(steps):
        h = int(rng.integers(len(hubs)))
        arm = policy.select(contexts[h])
        means = env.means[h]
        p = means[list(env.arms).index(arm)]
        r = float(rng.random() < p)
        policy.update(arm, contexts[h], r)
        rewards[t] = r
        instant_regret[t] = max(means) - p
        choices.append(arm)
    return SimulationResult(rewards, np.cumsum(instant_regret), choices)


def main() -> None:
    """Regret and reward of every policy on the two environments the tests use."""
    from router.features import FEATURE_DIM
    from router.registry import make_policy

    arms = ["a", "b", "c"]
    steady = BernoulliEnvironment(arms, [[0.3, 0.5, 0.7]])
    by_hub = BernoulliEnvironment(arms, [[0.8, 0.3, 0.3], [0.3, 0.8, 0.3], [0.3, 0.3, 0.8]])
    seeds = range(6)
    print("policy     regret@1000  regret@2000  hub-dependent reward/1500")
    for name in ("sla", "qlearning", "ucb1", "thompson", "linucb", "random"):
        runs = [
            simulate(make_policy(name, arms, dim=FEATURE_DIM, seed=s), steady, 2000, s)
            for s in seeds
        ]
        r1 = float(np.mean([r.regret[999] for r in runs]))
        r2 = float(np.mean([r.regret[-1] for r in runs]))
        ctx = float(
            np.mean(
                [
                    simulate(
                        make_policy(name, arms, dim=FEATURE_DIM, seed=s), by_hub, 1500, s
                    ).total_reward
                    for s in seeds
                ]
            )
        )
        print(f"{name:10} {r1:11.1f}  {r2:11.1f}  {ctx:25.1f}")


if __name__ == "__main__":
    main()
