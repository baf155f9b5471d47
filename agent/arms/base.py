"""The one small ABC every generation arm implements, and what it returns.

An arm turns a request and its retrieved docs into call text. The base class times the
call and prices it; subclasses implement `_generate` and nothing else. Resolving the text
against the catalog is the pipeline's job (MoA's voting mode does it for its proposers).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from agent.jsontypes import JSONObject

if TYPE_CHECKING:
    from agent.calls.slots import Choice
    from agent.resolve import CallResolver
    from apidb import APIDoc
    from retriever import Hit


class Price(BaseModel):
    """Per 1k tokens for hosted models; per compute hour for local ones (both may apply)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_1k: float = Field(0.0, ge=0)
    output_per_1k: float = Field(0.0, ge=0)
    per_hour: float = Field(0.0, ge=0)

    def cost(self, tokens_in: int, tokens_out: int, compute_seconds: float) -> float:
        return (
            tokens_in / 1000 * self.input_per_1k
            + tokens_out / 1000 * self.output_per_1k
            + compute_seconds / 3600 * self.per_hour
        )


@dataclass(frozen=True)
class FillRequest:
    """The one function the selection chose, and the values the request offers for each of
    its arguments, best first (`agent.calls.fill.candidates`)."""

    doc: APIDoc
    options: Mapping[str, Sequence[Choice]]
    today: date | None = None  # the day relative dates count from; None: the machine's


@dataclass(frozen=True)
class GenerationRequest:
    query: str
    hits: Sequence[Hit]
    # Set by MoA for one proposer; None = the arm's own setting.
    temperature: float | None = None
    # Calls other arms proposed, shown to an aggregator.
    proposals: Sequence[str] = ()
    resolver: CallResolver | None = None
    # A function or HTTP operation to fill (the pipeline's selection); None for model APIs,
    # whose canonical calls have nothing to fill.
    fill: FillRequest | None = None


@dataclass(frozen=True)
class RawGeneration:
    """What `_generate` returns: the text and the tokens it cost."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    endpoint: str | None = None
    meta: JSONObject = field(default_factory=dict)
    # What sub-generations already cost (MoA's proposers), added to this arm's own price.
    inner_cost: float = 0.0
    # The latency to report instead of the measured one: a replayed system's own.
    latency_s: float | None = None


@dataclass(frozen=True)
class Generation:
    arm: str
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    cost: float
    endpoint: str | None = None
    meta: JSONObject = field(default_factory=dict)

    def to_json(self) -> JSONObject:
        return {
            "arm": self.arm,
            "text": self.text,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_ms": round(self.latency_s * 1000, 2),
            "cost": self.cost,
            "endpoint": self.endpoint,
            "meta": self.meta,
        }


class Arm(ABC):
    """A named generator. Subclasses set `kind` and implement `_generate`."""

    kind: ClassVar[str]
    # Arms that bill per token report tokens; local arms bill measured compute time.
    local: ClassVar[bool] = True

    def __init__(self, name: str, price: Price | None = None) -> None:
        self.name = name
        self.price = price or Price()

    def generate(self, request: GenerationRequest) -> Generation:
        start = time.perf_counter()
        raw = self._generate(request)
        latency = time.perf_counter() - start
        compute = latency if self.local else 0.0
        if raw.latency_s is not None:
            latency = raw.latency_s
        return Generation(
            arm=self.name,
            text=raw.text,
            tokens_in=raw.tokens_in,
            tokens_out=raw.tokens_out,
            latency_s=latency,
            cost=raw.inner_cost + self.price.cost(raw.tokens_in, raw.tokens_out, compute),
            endpoint=raw.endpoint,
            meta=raw.meta,
        )

    @abstractmethod
    def _generate(self, request: GenerationRequest) -> RawGeneration: ...

    def warm_up(self) -> None:  # noqa: B027 - optional hook, most arms have nothing to load
        """Load what the arm needs now rather than at its first request."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, clients and threads."""

    def describe(self) -> JSONObject:
        return {"name": self.name, "kind": self.kind, "price": self.price.model_dump()}
