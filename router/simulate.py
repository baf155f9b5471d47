"""Bandit environments with known arm means, to check and compare policies.

`BernoulliEnvironment` gives each arm a success probability per hub (one row for
non-contextual problems). `simulate` runs a policy for `steps` requests and returns the
cumulative regret against the best arm for each request's hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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
    policy: Policy,
    env: BernoulliEnvironment,
    steps: int,
    seed: int = 0,
    *,
    query_dim: int = 0,
) -> SimulationResult:
    """Run `policy` for `steps` requests. With `query_dim` > 0 every request also carries
    a random query embedding of that size and random retrieval scores, as real requests
    do; they do not affect the reward, so a contextual policy has noise to learn past.
    Otherwise a request's context is its hub alone."""
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
        context = contexts[h]
        if query_dim > 0:
            top = float(rng.uniform(0.3, 0.9))
            scores = [top, top - float(rng.uniform(0.0, 0.2))]
            vector = rng.normal(size=query_dim)
            context = RouteContext(features.build(vector, scores, hubs[h], "python"), hubs[h])
        arm = policy.select(context)
        means = env.means[h]
        p = means[list(env.arms).index(arm)]
        r = float(rng.random() < p)
        policy.update(arm, context, r)
        rewards[t] = r
        instant_regret[t] = max(means) - p
        choices.append(arm)
    return SimulationResult(rewards, np.cumsum(instant_regret), choices)


def within_of_best(served: npt.ArrayLike, best: npt.ArrayLike, tolerance: float) -> int | None:
    """The first step after which the router's cumulative reward stays within
    `tolerance` of the best fixed arm's (None if it never does)."""
    ours, theirs = np.cumsum(served), np.cumsum(best)
    ok = ours >= theirs - tolerance * np.abs(theirs)
    if not ok[-1]:
        return None
    failing = np.nonzero(~ok)[0]
    return int(failing[-1] + 2) if len(failing) else 1


# The environments `main` compares policies on; the tests use the same ones.
STEADY = BernoulliEnvironment(["a", "b", "c"], [[0.3, 0.5, 0.7]])
# Success rates close together near 1, like sandbox execution rates (0.85-0.99 on APIBench).
CLOSE = BernoulliEnvironment(["a", "b", "c"], [[0.85, 0.90, 0.95]])
BY_HUB = BernoulliEnvironment(["a", "b", "c"], [[0.8, 0.3, 0.3], [0.3, 0.8, 0.3], [0.3, 0.3, 0.8]])


def main() -> None:
    """Every policy on the three environments, with requests that carry a (random) query
    embedding as real ones do: regret, how often it ends on the best arm, and how soon it
    is within 5% of the best arm's reward."""
    from router.features import FEATURE_DIM
    from router.registry import DEFAULT_POLICY, make_policy

    seeds = range(50)
    steps = 2000
    dim = 384  # MiniLM's embedding size
    print(f"mean of {len(seeds)} seeds; default policy: {DEFAULT_POLICY}")
    print(
        "policy     | steady .3/.5/.7: regret@2000, best-arm share (last 500) "
        "| close .85/.90/.95: regret@2000, best-arm share, within 5% by step 200 "
        "| best arm per hub: reward/1500"
    )
    for name in ("sla", "qlearning", "ucb1", "thompson", "linucb", "random"):
        row = [f"{name:10}"]
        for env in (STEADY, CLOSE):
            runs = [
                simulate(
                    make_policy(name, env.arms, dim=FEATURE_DIM, seed=s),
                    env,
                    steps,
                    s,
                    query_dim=dim,
                )
                for s in seeds
            ]
            best_mean = max(env.means[0])
            best = env.arms[int(np.argmax(env.means[0]))]
            regret = float(np.mean([r.regret[-1] for r in runs]))
            share = float(np.mean([r.choices[-500:].count(best) / 500 for r in runs]))
            cell = f"{regret:6.1f}, {share:.2f}"
            if env is CLOSE:
                soon = [within_of_best(r.rewards, np.full(steps, best_mean), 0.05) for r in runs]
                early = sum(1 for w in soon if w is not None and w <= 200)
                cell += f", {early}/{len(runs)}"
            row.append(cell)
        ctx = float(
            np.mean(
                [
                    simulate(
                        make_policy(name, BY_HUB.arms, dim=FEATURE_DIM, seed=s),
                        BY_HUB,
                        1500,
                        s,
                        query_dim=dim,
                    ).total_reward
                    for s in seeds
                ]
            )
        )
        row.append(f"{ctx:7.1f}")
        print(" | ".join(row))


if __name__ == "__main__":
    main()
