"""Policies by name, the one registry the CLI, the config and the REST API read.

`make_policy("fixed:template", arms)` pins one arm; other names take keyword parameters
(`beta` for sla, `alpha`/`epsilon` for qlearning, ...). Unknown names and parameters raise
errors that list what is valid.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class PolicyName:
    """A parsed policy name: a registered policy, or `fixed` with the one arm it pins."""

    policy: str
    arm: str | None = None

    @classmethod
    def fixed(cls, arm: str) -> PolicyName:
        return cls(_FIXED, arm)

    def __str__(self) -> str:
        return f"{_FIXED}:{self.arm}" if self.arm is not None else self.policy


_FIXED = "fixed"


def parse_policy(name: str, arms: Sequence[str] | None = None) -> PolicyName:
    """The one reading of a policy name (`thompson`, `fixed:template`, ...). With `arms`,
    a fixed policy must name one of them. Unknown names raise `UnknownPolicyError`, which
    lists the valid ones."""
    prefix, colon, arm = name.partition(":")
    if colon and prefix == _FIXED:
        if arms is not None and arm not in arms:
            raise UnknownPolicyError(name, valid_policy_names(arms))
        if not arm:
            raise UnknownPolicyError(name, POLICY_NAMES)
        return PolicyName.fixed(arm)
    if name not in POLICIES:
        raise UnknownPolicyError(
            name, valid_policy_names(arms) if arms is not None else POLICY_NAMES
        )
    return PolicyName(name)


def valid_policy_names(arms: Sequence[str]) -> list[str]:
    """Every name `parse_policy` accepts for these arms."""
    return [*POLICIES, *(str(PolicyName.fixed(arm)) for arm in arms)]


def make_policy(
    name: str, arms: Sequence[str], *, dim: int, seed: int | None = None, **params: Any
) -> Policy:
    """A fresh policy. `dim` is the context feature length (used by linucb only)."""
    parsed = parse_policy(name)
    if parsed.arm is not None:
        return FixedPolicy(arms, arm=parsed.arm, seed=seed)
    cls = POLICIES[parsed.policy]
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
    return str(parse_policy(name, arms))
