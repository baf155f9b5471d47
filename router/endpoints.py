"""Choosing among an arm's endpoints (replicas, regions), with cooldowns and retries.

Endpoints are tried best first: healthy before cooling down, never measured before
measured, then by expected wait, the latency EWMA times (1 + requests in flight), so a
slow or busy replica gets less traffic.
A failed attempt puts its endpoint in cooldown (doubling with consecutive failures, up to
a cap) and the call moves on to the next endpoint. When every endpoint fails,
`AllEndpointsFailedError` carries each one's reason; the pipeline then falls back to the
next arm and records an infrastructure failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from router.errors import AllEndpointsFailedError, PolicyConfigError

T = TypeVar("T")


class EndpointFailure(Exception):
    """Raised by an attempt to say the endpoint failed (and another may succeed)."""


@dataclass
class EndpointState:
    url: str
    region: str | None = None
    ewma_latency_s: float | None = None
    in_flight: int = 0
    failures: int = 0
    cooldown_until: float = 0.0
    successes: int = 0


class EndpointPool:
    def __init__(
        self,
        endpoints: Sequence[tuple[str, str | None]],
        *,
        cooldown_s: float = 10.0,
        max_cooldown_s: float = 300.0,
        ewma_alpha: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoints:
            raise PolicyConfigError("an arm needs at least one endpoint")
        self.endpoints = [EndpointState(url, region) for url, region in endpoints]
        self.cooldown_s, self.max_cooldown_s = cooldown_s, max_cooldown_s
        self.alpha = ewma_alpha
        self.clock = clock
        self._lock = threading.Lock()

    def order(self) -> list[EndpointState]:
        now = self.clock()
        with self._lock:

            def expected_wait(e: EndpointState) -> tuple[bool, float, float]:
                # An endpoint never measured sorts first among healthy ones, so it gets measured.
                latency = e.ewma_latency_s if e.ewma_latency_s is not None else 0.0
                return (e.cooldown_until > now, latency * (1 + e.in_flight), e.cooldown_until)

            return sorted(self.endpoints, key=expected_wait)

    def call(self, attempt: Callable[[EndpointState], T]) -> tuple[T, EndpointState]:
        """Run `attempt` on endpoints, best first, until one succeeds."""
        failures: dict[str, str] = {}
        for endpoint in self.order():
            with self._lock:
                endpoint.in_flight += 1
            start = self.clock()
            try:
                result = attempt(endpoint)
            except EndpointFailure as exc:
                self._failed(endpoint)
                failures[endpoint.url] = str(exc) or type(exc).__name__
                continue
            finally:
                with self._lock:
                    endpoint.in_flight -= 1
            self._succeeded(endpoint, self.clock() - start)
            return result, endpoint
        raise AllEndpointsFailedError(failures)

    def _failed(self, endpoint: EndpointState) -> None:
        with self._lock:
            endpoint.failures += 1
            pause = min(self.cooldown_s * 2 ** (endpoint.failures - 1), self.max_cooldown_s)
            endpoint.cooldown_until = self.clock() + pause

    def _succeeded(self, endpoint: EndpointState, latency_s: float) -> None:
        with self._lock:
            endpoint.failures = 0
            endpoint.cooldown_until = 0.0
            endpoint.successes += 1
            previous = endpoint.ewma_latency_s
            endpoint.ewma_latency_s = (
                latency_s
                if previous is None
                else self.alpha * latency_s + (1 - self.alpha) * previous
            )
