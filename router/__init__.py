"""Which arm answers: bandit policies, the reward, persisted state, endpoint choice.

from router import Router, RewardWeights
"""

from router.endpoints import EndpointFailure, EndpointPool
from router.errors import (
    AllEndpointsFailedError,
    PolicyConfigError,
    PolicyStateError,
    RouterError,
    UnknownPolicyError,
)
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
from router.reward import RewardScale, RewardWeights, normalised, reward
from router.router import Router, Selection

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
