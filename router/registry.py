"""Policies by name, the one registry the CLI, the config and the REST API read.

`make_policy("fixed:template", arms)` pins one arm; other names take keyword parameters
(`beta` for sla, `alpha`/`epsilon` for qlearning, ...). Unknown names and parameters raise
errors that list what is valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from router.errors import PolicyConfigError, UnknownPolicyError
from router.policies import (
    FixedPolicy,
    LinUCBPolicy,
    Policy,
    QLearningPolicy,
    RandomPolicy,
    SLAPolicy,
    ThompsonPolicy,
    UCB1Policy,
)

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (SLAPolicy, QLearningPolicy, UCB1Policy, ThompsonPolicy, LinUCBPolicy, RandomPolicy)
}
# Names the CLI and docs show; `fixed:<arm>` stands for one per arm.
POLICY_NAMES: tuple[str, ...] = (*POLICIES, "fixed:<arm>")

# The policy a new router starts with. Thompson sampling, because it is the one policy that
# finds the best arm in every environment of `python -m router.simulate`, including arms
# whose success rates are close together near 1 (as sandbox execution rates are). There
# PickLLM's `sla` locks onto a worse arm in about half the runs: its update moves the chosen
# arm up by beta·r whatever the others would have earned. BENCHMARKS.md has the figures.
DEFAULT_POLICY = "thompson"


def make_policy(
    name: str, arms: Sequence[str], *, dim: int, seed: int | None = None, **params: Any
) -> Policy:
    """A fresh policy. `dim` is the context feature length (used by linucb only)."""
    if name.startswith("fixed:"):
        return FixedPolicy(arms, arm=name.removeprefix("fixed:"), seed=seed)
    cls = POLICIES.get(name)
    if cls is None:
        raise UnknownPolicyError(name, POLICY_NAMES)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "arms", "seed", "dim"}
    unknown = set(params) - accepted
    if unknown:
        raise PolicyConfigError(
            f"{name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"accepted: {', '.join(sorted(accepted)) or '(none)'}"
        )
    if cls is LinUCBPolicy:
        params["dim"] = dim
    try:
        return cls(arms, seed=seed, **params)
    except TypeError as exc:  # a parameter of the wrong type from toml or JSON
        raise PolicyConfigError(f"{name}: {exc}") from exc


def validate_policy_name(name: str, arms: Sequence[str]) -> str:
    if name.startswith("fixed:"):
        arm = name.removeprefix("fixed:")
        if arm not in arms:
            raise UnknownPolicyError(name, [f"fixed:{a}" for a in arms] + list(POLICIES))
        return name
    if name not in POLICIES:
        raise UnknownPolicyError(name, POLICY_NAMES)
    return name
