"""Which arm answers: bandit policies, the reward, persisted state, endpoint choice.

    from router import Router, RewardWeights

Importing this package is cheap: the errors load at once, everything else (numpy among it)
on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from router.errors import (
    AllEndpointsFailedError,
    PolicyConfigError,
    PolicyStateError,
    RouterError,
    UnknownPolicyError,
)

# Eager, though it loads pydantic: `reward` names both a submodule and its function, and
# a lazy lookup would hand out the module once anything imported it.
from router.reward import RewardScale, RewardWeights, normalised, reward

if TYPE_CHECKING:
    from router.endpoints import EndpointFailure, EndpointPool
    from router.policies import Policy, RouteContext
    from router.registry import (
        DEFAULT_POLICY,
        POLICIES,
        POLICY_NAMES,
        PolicyName,
        make_policy,
        parse_policy,
        valid_policy_names,
    )
    from router.router import Router, Selection

_LAZY = {
    "EndpointFailure": "router.endpoints",
    "EndpointPool": "router.endpoints",
    "Policy": "router.policies",
    "RouteContext": "router.policies",
    "DEFAULT_POLICY": "router.registry",
    "POLICIES": "router.registry",
    "POLICY_NAMES": "router.registry",
    "PolicyName": "router.registry",
    "make_policy": "router.registry",
    "parse_policy": "router.registry",
    "valid_policy_names": "router.registry",
    "Router": "router.router",
    "Selection": "router.router",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'router' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "POLICY_NAMES",
    "AllEndpointsFailedError",
    "EndpointFailure",
    "EndpointPool",
    "Policy",
    "PolicyConfigError",
    "PolicyName",
    "PolicyStateError",
    "RewardScale",
    "RewardWeights",
    "RouteContext",
    "Router",
    "RouterError",
    "Selection",
    "UnknownPolicyError",
    "make_policy",
    "normalised",
    "parse_policy",
    "reward",
    "valid_policy_names",
]
