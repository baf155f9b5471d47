"""Back-pressure: a per-key rate limit (429) and a bounded task queue (503).

Both answer at once with `Retry-After` instead of letting work pile up: a client that backs
off as told gets through, and the service never holds more tasks than it can finish.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from agent.errors import DrainingError, QueueFullError


class RateLimiter:
    """A token bucket per caller: `rate` requests a second, bursts up to `burst`."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    # Buckets kept at most; past it, full ones (callers idle long enough) are forgotten,
    # so many distinct callers (addresses in a distributed attack) cannot grow memory.
    MAX_BUCKETS = 10_000

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, caller: str) -> float | None:
        """None if the request may go ahead (a token is taken); otherwise the seconds
        until it could."""
        return self._take(caller, consume=True)

    def peek(self, caller: str) -> float | None:
        """Like `acquire`, without taking a token."""
        return self._take(caller, consume=False)

    def _take(self, caller: str, *, consume: bool) -> float | None:
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                if consume:
                    self._buckets[caller] = (tokens - 1.0, now)
                    self._prune(now)
                return None
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self.MAX_BUCKETS:
            return
        refill_s = self.burst / self.rate
        for caller, (_, at) in list(self._buckets.items()):
            if now - at >= refill_s:
                del self._buckets[caller]


class Admission:
    """At most `workers` tasks run and `queue_limit` wait; the next one is refused.

    `Retry-After` is estimated from the recent mean task time and the queue ahead.
    """

    def __init__(self, workers: int, queue_limit: int) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self._admitted = 0  # running or waiting for a worker
        self._mean_task_s: float | None = None
        self._lock = threading.Condition()
        self._draining = False

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._admitted

    @property
    def waiting(self) -> int:
        with self._lock:
            return max(0, self._admitted - self.workers)

    @property
    def draining(self) -> bool:
        return self._draining

    def enter(self) -> None:
        with self._lock:
            if self._draining:
                raise DrainingError("the service is shutting down")
            if self._admitted >= self.workers + self.queue_limit:
                raise QueueFullError(self._retry_after())
            self._admitted += 1

    def leave(self, seconds: float) -> None:
        with self._lock:
            self._admitted -= 1
            # An exponential moving average keeps the estimate current as the load changes.
            mean = self._mean_task_s
            self._mean_task_s = seconds if mean is None else 0.9 * mean + 0.1 * seconds
            self._lock.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Refuse new tasks and wait for the admitted ones; False if some are still running."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._draining = True
            while self._admitted > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _retry_after(self) -> int:
        ahead = self._admitted - self.workers + 1
        mean = self._mean_task_s if self._mean_task_s is not None else 0.5
        return max(1, math.ceil(ahead * mean / max(self.workers, 1)))
