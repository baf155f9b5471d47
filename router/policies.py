"""Bandit policies. Each picks one arm name per request and learns from rewards in [0, 1].

- `sla`: PickLLM's stochastic learning automaton, linear reward–inaction on a probability
  vector: the chosen arm's probability moves toward 1 by `beta·r`, the others shrink in
  proportion; a zero reward changes nothing.
- `qlearning`: PickLLM's stateless Q-learning, Q(a) += alpha·(r − Q(a)), chosen
  epsilon-greedily with epsilon = max(epsilon_min, epsilon0·decay^t).
- `ucb1`: mean + c·sqrt(2·ln N / n), every arm tried once first.
- `thompson`: Beta(1 + Σr, 1 + Σ(1−r)) per arm, or a Gaussian posterior on the mean.
- `linucb`: disjoint LinUCB (Li et al. 2010) on the context's feature vector, so the
  choice can differ per query, which PickLLM's session-level convergence cannot do.
- `fixed:<arm>` and `random`.

`ucb1`, `thompson` and `linucb` take `discount` (< 1 forgets old rewards geometrically) and
`ucb1`/`thompson` also `window` (only the last N rewards count), for arms that drift.
State is plain JSON (`state()` / `load()`); `load` raises `PolicyStateError` on anything
it cannot use, and the router then starts that policy afresh.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from router.errors import PolicyConfigError, PolicyStateError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class RouteContext:
    """What a policy may look at: `features` for contextual policies (see router.features)."""

    features: FloatArray | None = None
    hub: str | None = None


class Policy(ABC):
    name: ClassVar[str]

    def __init__(self, arms: Sequence[str], *, seed: int | None = None) -> None:
        if not arms:
            raise PolicyConfigError("a policy needs at least one arm")
        self.arms = list(dict.fromkeys(arms))
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def scores(self, context: RouteContext) -> dict[str, float]:
        """Each arm's current score (the why behind `select`)."""

    def select(self, context: RouteContext, allowed: Sequence[str] | None = None) -> str:
        return self.ranking(context, allowed)[0]

    def ranking(self, context: RouteContext, allowed: Sequence[str] | None = None) -> list[str]:
        """Arms best first: `[0]` is the choice, the rest are fallbacks in order."""
        return self.rank(self.scores(context), allowed)

    def rank(self, scores: dict[str, float], allowed: Sequence[str] | None = None) -> list[str]:
        """The ranking these scores give (callers that show the scores rank with them, so
        a sampling policy's shown scores are the ones it chose by)."""
        names = [a for a in self.arms if allowed is None or a in allowed]
        if not names:
            raise PolicyConfigError("no arm is allowed for this request")
        jitter = self.rng.random(len(names))  # break ties at random, not by list order
        order = sorted(range(len(names)), key=lambda i: (-scores[names[i]], jitter[i]))
        return [names[i] for i in order]

    @abstractmethod
    def update(self, arm: str, context: RouteContext, reward: float) -> None: ...

    @abstractmethod
    def state(self) -> dict[str, Any]: ...

    @abstractmethod
    def load(self, state: dict[str, Any]) -> None: ...

    def _check_arm(self, arm: str) -> int:
        try:
            return self.arms.index(arm)
        except ValueError:
            raise PolicyConfigError(f"{self.name}: unknown arm {arm!r}") from None

    def _per_arm(self, state: dict[str, Any], key: str, default: Any) -> list[Any]:
        """A per-arm list from stored state, following arms added or removed since."""
        try:
            stored = dict(zip(state["arms"], state[key], strict=True))
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyStateError(f"{self.name}: bad state ({exc})") from exc
        return [stored.get(arm, default) for arm in self.arms]

    def _floats(self, state: dict[str, Any], key: str, default: Any) -> FloatArray:
        """`_per_arm` as a float array; anything non-numeric is a `PolicyStateError`."""
        try:
            return np.array(self._per_arm(state, key, default), dtype=float)
        except (TypeError, ValueError) as exc:
            raise PolicyStateError(f"{self.name}: {key} is not numeric ({exc})") from exc


def _sampled_choice(
    policy: Policy, weights: FloatArray, allowed: Sequence[str] | None
) -> list[str]:
    """A ranking whose head is drawn with probability `weights`, then by weight."""
    mask = np.array([allowed is None or a in allowed for a in policy.arms])
    if not mask.any():
        raise PolicyConfigError("no arm is allowed for this request")
    w = np.where(mask, weights, 0.0)
    w = w / w.sum() if w.sum() > 0 else mask / mask.sum()
    first = int(policy.rng.choice(len(policy.arms), p=w))
    rest = sorted(
        (i for i in range(len(policy.arms)) if mask[i] and i != first), key=lambda i: -w[i]
    )
    return [policy.arms[first]] + [policy.arms[i] for i in rest]


class SLAPolicy(Policy):
    name = "sla"

    def __init__(self, arms: Sequence[str], *, beta: float = 0.1, seed: int | None = None) -> None:
        super().__init__(arms, seed=seed)
        if not 0 < beta <= 1:
            raise PolicyConfigError("sla: beta must be in (0, 1]")
        self.beta = beta
        self.p = np.full(len(self.arms), 1.0 / len(self.arms))

    def scores(self, context: RouteContext) -> dict[str, float]:
        return dict(zip(self.arms, self.p.tolist(), strict=True))

    def rank(self, scores: dict[str, float], allowed: Sequence[str] | None = None) -> list[str]:
        return _sampled_choice(self, np.array([scores[a] for a in self.arms]), allowed)

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        i = self._check_arm(arm)
        step = self.beta * reward
        self.p -= step * self.p
        self.p[i] += step
        self.p /= self.p.sum()  # keep it a distribution despite rounding

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms, "p": self.p.tolist()}

    def load(self, state: dict[str, Any]) -> None:
        p = self._floats(state, "p", 1.0 / len(self.arms))
        if not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
            raise PolicyStateError("sla: probabilities must be finite and non-negative")
        self.p = p / p.sum()


class QLearningPolicy(Policy):
    name = "qlearning"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        alpha: float = 0.1,
        epsilon: float = 0.3,
        epsilon_decay: float = 0.99,
        epsilon_min: float = 0.02,
        seed: int | None = None,
    ) -> None:
        super().__init__(arms, seed=seed)
        if not 0 < alpha <= 1:
            raise PolicyConfigError("qlearning: alpha must be in (0, 1]")
        if not (0 <= epsilon_min <= epsilon <= 1 and 0 < epsilon_decay <= 1):
            raise PolicyConfigError(
                "qlearning: need 0 <= epsilon_min <= epsilon <= 1, 0 < decay <= 1"
            )
        self.alpha, self.epsilon0 = alpha, epsilon
        self.decay, self.epsilon_min = epsilon_decay, epsilon_min
        self.q = np.zeros(len(self.arms))
        self.t = 0

    @property
    def epsilon(self) -> float:
        return max(self.epsilon_min, self.epsilon0 * self.decay**self.t)

    def scores(self, context: RouteContext) -> dict[str, float]:
        return dict(zip(self.arms, self.q.tolist(), strict=True))

    def rank(self, scores: dict[str, float], allowed: Sequence[str] | None = None) -> list[str]:
        greedy = super().rank(scores, allowed)
        if self.rng.random() < self.epsilon and len(greedy) > 1:
            explore = greedy[int(self.rng.integers(len(greedy)))]
            return [explore] + [a for a in greedy if a != explore]
        return greedy

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        i = self._check_arm(arm)
        self.q[i] += self.alpha * (reward - self.q[i])
        self.t += 1

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms, "q": self.q.tolist(), "t": self.t}

    def load(self, state: dict[str, Any]) -> None:
        q = self._floats(state, "q", 0.0)
        t = state.get("t", 0)
        if not np.all(np.isfinite(q)) or not isinstance(t, int) or t < 0:
            raise PolicyStateError("qlearning: bad q values or step count")
        self.q, self.t = q, t


class _MeanStats:
    """Per-arm pull counts and reward sums, optionally discounted or windowed."""

    def __init__(self, n: int, discount: float, window: int | None) -> None:
        if not 0 < discount <= 1:
            raise PolicyConfigError("discount must be in (0, 1]")
        if window is not None and window < 1:
            raise PolicyConfigError("window must be at least 1")
        self.discount, self.window = discount, window
        self.n = np.zeros(n)
        self.s = np.zeros(n)
        self.s2 = np.zeros(n)
        self.history: deque[tuple[int, float]] = deque(maxlen=window)

    def add(self, i: int, r: float) -> None:
        if self.window is not None:
            self.history.append((i, r))
            self.n[:], self.s[:], self.s2[:] = 0, 0, 0
            for j, x in self.history:
                self.n[j] += 1
                self.s[j] += x
                self.s2[j] += x * x
            return
        if self.discount < 1:
            self.n *= self.discount
            self.s *= self.discount
            self.s2 *= self.discount
        self.n[i] += 1
        self.s[i] += r
        self.s2[i] += r * r

    def dump(self) -> dict[str, Any]:
        return {
            "n": self.n.tolist(),
            "s": self.s.tolist(),
            "s2": self.s2.tolist(),
            "history": [list(h) for h in self.history],
        }

    def restore(self, policy: Policy, state: dict[str, Any]) -> None:
        n = policy._floats(state, "n", 0.0)
        s = policy._floats(state, "s", 0.0)
        s2 = policy._floats(state, "s2", 0.0)
        if not all(np.all(np.isfinite(a)) for a in (n, s, s2)) or (n < 0).any():
            raise PolicyStateError(f"{policy.name}: counts must be finite and non-negative")
        self.n, self.s, self.s2 = n, s, s2
        history = state.get("history", [])
        old_arms = state["arms"]
        self.history.clear()
        for item in history:
            try:
                arm, r = old_arms[int(item[0])], float(item[1])
            except (IndexError, TypeError, ValueError) as exc:
                raise PolicyStateError(f"{policy.name}: bad history ({exc})") from exc
            if arm in policy.arms:
                self.history.append((policy.arms.index(arm), r))


class _MeanPolicy(Policy):
    """A policy that keeps per-arm reward means (`_MeanStats`): ucb1 and thompson."""

    stats: _MeanStats

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        self.stats.add(self._check_arm(arm), reward)

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms} | self.stats.dump()

    def load(self, state: dict[str, Any]) -> None:
        self.stats.restore(self, state)


class UCB1Policy(_MeanPolicy):
    name = "ucb1"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        c: float = 1.0,
        discount: float = 1.0,
        window: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(arms, seed=seed)
        if c < 0:
            raise PolicyConfigError("ucb1: c must be >= 0")
        self.c = c
        self.stats = _MeanStats(len(self.arms), discount, window)

    def scores(self, context: RouteContext) -> dict[str, float]:
        n, s = self.stats.n, self.stats.s
        total = n.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.c * np.sqrt(2 * math.log(max(total, 1.0)) / n)
            score = np.where(n > 0, s / n + bonus, np.inf)
        return dict(zip(self.arms, score.tolist(), strict=True))


class ThompsonPolicy(_MeanPolicy):
    name = "thompson"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        prior: str = "beta",
        discount: float = 1.0,
        window: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(arms, seed=seed)
        if prior not in ("beta", "gaussian"):
            raise PolicyConfigError("thompson: prior must be 'beta' or 'gaussian'")
        self.prior = prior
        self.stats = _MeanStats(len(self.arms), discount, window)

    def _sample(self) -> FloatArray:
        n, s = self.stats.n, self.stats.s
        if self.prior == "beta":
            sample: FloatArray = self.rng.beta(1 + s, 1 + np.maximum(n - s, 0))
            return sample
        # Gaussian: posterior on the mean with a unit-variance prior and the sample variance.
        mean = np.where(n > 0, s / np.maximum(n, 1e-12), 0.5)
        var = np.where(n > 1, self.stats.s2 / np.maximum(n, 1e-12) - mean**2, 0.25)
        std = np.sqrt(np.maximum(var, 1e-4) / (n + 1))
        return self.rng.normal(mean, std)

    def scores(self, context: RouteContext) -> dict[str, float]:
        """One posterior draw per arm: a new draw at every call."""
        return dict(zip(self.arms, self._sample().tolist(), strict=True))


class LinUCBPolicy(Policy):
    name = "linucb"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        dim: int,
        alpha: float = 1.0,
        ridge: float = 1.0,
        discount: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(arms, seed=seed)
        if dim < 1 or alpha < 0 or ridge <= 0 or not 0 < discount <= 1:
            raise PolicyConfigError(
                "linucb: need dim >= 1, alpha >= 0, ridge > 0, 0 < discount <= 1"
            )
        self.dim, self.alpha, self.ridge, self.discount = dim, alpha, ridge, discount
        k = len(self.arms)
        self.a = np.stack([np.eye(dim) * ridge for _ in range(k)])
        self.a_inv = np.stack([np.eye(dim) / ridge for _ in range(k)])
        self.b = np.zeros((k, dim))

    def _x(self, context: RouteContext) -> FloatArray:
        x = context.features
        if x is None or x.shape != (self.dim,):
            raise PolicyConfigError(f"linucb needs a feature vector of length {self.dim}")
        return x

    def scores(self, context: RouteContext) -> dict[str, float]:
        x = self._x(context)
        theta = np.einsum("kij,kj->ki", self.a_inv, self.b)
        spread = np.sqrt(np.maximum(np.einsum("i,kij,j->k", x, self.a_inv, x), 0.0))
        return dict(zip(self.arms, (theta @ x + self.alpha * spread).tolist(), strict=True))

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        i, x = self._check_arm(arm), self._x(context)
        if self.discount < 1:
            eye = np.eye(self.dim) * self.ridge
            self.a = eye + self.discount * (self.a - eye)
            self.b *= self.discount
            self.a_inv = np.asarray(np.linalg.inv(self.a), dtype=np.float64)
        self.a[i] += np.outer(x, x)
        self.b[i] += reward * x
        if self.discount < 1:
            self.a_inv[i] = np.linalg.inv(self.a[i])
        else:  # Sherman–Morrison: a rank-one update of the inverse, no O(d³) inversion
            ax = self.a_inv[i] @ x
            self.a_inv[i] -= np.outer(ax, ax) / (1.0 + x @ ax)

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms, "dim": self.dim, "a": self.a.tolist(), "b": self.b.tolist()}

    def load(self, state: dict[str, Any]) -> None:
        if state.get("dim") != self.dim:
            raise PolicyStateError(f"linucb: stored dim {state.get('dim')} != {self.dim}")
        eye = (np.eye(self.dim) * self.ridge).tolist()
        zero = [0.0] * self.dim
        try:
            a = np.array(self._per_arm(state, "a", eye), dtype=float)
            b = np.array(self._per_arm(state, "b", zero), dtype=float)
            if a.shape != (len(self.arms), self.dim, self.dim) or b.shape != (
                len(self.arms),
                self.dim,
            ):
                raise ValueError("shape mismatch")
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
                raise ValueError("non-finite values")
            a_inv = np.linalg.inv(a)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise PolicyStateError(f"linucb: bad state ({exc})") from exc
        self.a, self.b, self.a_inv = a, b, a_inv


class FixedPolicy(Policy):
    name = "fixed"

    def __init__(self, arms: Sequence[str], *, arm: str, seed: int | None = None) -> None:
        super().__init__(arms, seed=seed)
        if arm not in self.arms:
            raise PolicyConfigError(f"fixed: unknown arm {arm!r}; arms: {', '.join(self.arms)}")
        self.arm = arm

    def scores(self, context: RouteContext) -> dict[str, float]:
        return {a: 1.0 if a == self.arm else 0.0 for a in self.arms}

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms}

    def load(self, state: dict[str, Any]) -> None:
        pass


class RandomPolicy(Policy):
    name = "random"

    def scores(self, context: RouteContext) -> dict[str, float]:
        return dict.fromkeys(self.arms, 1.0 / len(self.arms))

    def rank(self, scores: dict[str, float], allowed: Sequence[str] | None = None) -> list[str]:
        return _sampled_choice(self, np.ones(len(self.arms)), allowed)

    def update(self, arm: str, context: RouteContext, reward: float) -> None:
        pass

    def state(self) -> dict[str, Any]:
        return {"arms": self.arms}

    def load(self, state: dict[str, Any]) -> None:
        pass
