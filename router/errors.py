"""Errors raised by the router package.

RouterError
├── UnknownPolicyError      the message lists the valid names
├── PolicyConfigError       bad parameters or weights
├── PolicyStateError        stored state that cannot be loaded (the router resets it)
└── AllEndpointsFailedError every endpoint of an arm failed or is cooling down
"""

from __future__ import annotations

from collections.abc import Iterable


class RouterError(Exception):
    """Base class for the router package's errors."""


class UnknownPolicyError(RouterError):
    def __init__(self, name: str, valid: Iterable[str]) -> None:
        super().__init__(f"unknown policy {name!r}; valid names: {', '.join(valid)}")
        self.name = name


class PolicyConfigError(RouterError):
    pass


class RouterUnavailableError(RouterError):
    """The router's database cannot be reached (a PostgreSQL server down or restarting):
    nothing was learned, and the same request may succeed in a moment (503)."""


class PolicyStateError(RouterError):
    pass


class AllEndpointsFailedError(RouterError):
    def __init__(self, failures: dict[str, str]) -> None:
        detail = "; ".join(f"{url}: {why}" for url, why in failures.items()) or "none configured"
        super().__init__(f"every endpoint failed: {detail}")
        self.failures = failures
