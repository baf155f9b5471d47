"""Fakes for unit tests (never used by the product): an arm that answers from a queue."""

from __future__ import annotations

from collections import deque

from agent.arms.base import Arm, GenerationRequest, Price, RawGeneration


class FakeArm(Arm):
    """Answers with queued texts (or whole `RawGeneration`s, to set `meta`), or raises
    queued exceptions, in order.

    Remembers every request it saw. When the queue is empty it answers `default`.
    """

    kind = "fake"

    def __init__(self, name: str = "fake", *, default: str = "", price: Price | None = None):
        super().__init__(name, price)
        self.default = default
        self._queue: deque[str | Exception | RawGeneration] = deque()
        self.requests: list[GenerationRequest] = []

    def enqueue(self, *answers: str | Exception | RawGeneration) -> FakeArm:
        self._queue.extend(answers)
        return self

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        self.requests.append(request)
        answer = self._queue.popleft() if self._queue else self.default
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, RawGeneration):
            return answer
        return RawGeneration(text=answer, tokens_in=len(request.query.split()), tokens_out=7)
