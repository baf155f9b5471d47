"""`moa`: Mixture-of-Agents over other arms.

Proposers are other arms, each optionally at its own temperature (`"llamacpp@0.8"`), so one
model sampled several ways is a valid mixture. With several layers, each layer's proposers
see the previous layer's calls. The final call comes from:

- `aggregate`: an aggregator arm that sees the docs and the last layer's calls and writes
  the final call (under its own grammar when it is a constrained llama.cpp arm);
- `vote`: no model at all: the proposals are resolved against the catalog and the call
  that most proposers agree on (same API, same arguments) wins; ties go to the earlier
  proposer. Unresolvable proposals only win when nothing resolved.

A proposer that is unavailable is skipped; the arm fails only when every proposer does.
Tokens and cost are the sums over every generation the mixture ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from agent.arms.base import Arm, Generation, GenerationRequest, Price, RawGeneration
from agent.errors import ArmUnavailableError, CallParseError, ConfigError
from agent.jsontypes import JSONObject
from agent.resolve import CallResolver

MoAMode = Literal["aggregate", "vote"]


@dataclass(frozen=True)
class Proposer:
    arm: Arm
    temperature: float | None = None

    @property
    def label(self) -> str:
        return (
            self.arm.name if self.temperature is None else f"{self.arm.name}@{self.temperature:g}"
        )


class MoAArm(Arm):
    kind = "moa"
    local = False  # the proposers' own costs are summed instead

    def __init__(
        self,
        name: str,
        proposers: Sequence[Proposer],
        *,
        mode: MoAMode = "vote",
        aggregator: Arm | None = None,
        layers: int = 1,
        price: Price | None = None,
    ) -> None:
        super().__init__(name, price)
        if not proposers:
            raise ConfigError(f"{name}: a mixture needs at least one proposer")
        if mode == "aggregate" and aggregator is None:
            raise ConfigError(f"{name}: mode 'aggregate' needs an aggregator arm")
        if layers < 1:
            raise ConfigError(f"{name}: layers must be at least 1")
        self.proposers = list(proposers)
        self.mode: MoAMode = mode
        self.aggregator = aggregator
        self.layers = layers

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        generations: list[Generation] = []
        proposals: list[tuple[str, str]] = []  # (proposer label, text)
        for _ in range(self.layers):
            seen = tuple(text for _, text in proposals)
            layer = self._propose(replace(request, proposals=seen), generations)
            if not layer:
                raise ArmUnavailableError(f"{self.name}: every proposer failed")
            proposals = layer
        if self.mode == "vote":
            text, votes = self._vote(request, proposals)
            meta: JSONObject = {"mode": "vote", "votes": votes}
        else:
            assert self.aggregator is not None
            final = self.aggregator.generate(
                replace(request, proposals=tuple(t for _, t in proposals))
            )
            generations.append(final)
            text, meta = final.text, {"mode": "aggregate", "aggregator": self.aggregator.name}
        meta["proposals"] = [{"proposer": label, "text": t} for label, t in proposals]
        return RawGeneration(
            text=text,
            tokens_in=sum(g.tokens_in for g in generations),
            tokens_out=sum(g.tokens_out for g in generations),
            inner_cost=sum(g.cost for g in generations),
            meta=meta,
        )

    def _propose(
        self, request: GenerationRequest, generations: list[Generation]
    ) -> list[tuple[str, str]]:
        layer: list[tuple[str, str]] = []
        for proposer in self.proposers:
            try:
                generation = proposer.arm.generate(
                    replace(request, temperature=proposer.temperature)
                )
            except ArmUnavailableError:
                continue
            generations.append(generation)
            if generation.text:
                layer.append((proposer.label, generation.text))
        return layer

    def _vote(
        self, request: GenerationRequest, proposals: list[tuple[str, str]]
    ) -> tuple[str, dict[str, int]]:
        resolver = request.resolver or CallResolver(h.doc for h in request.hits)
        preferred = [h.doc.id for h in request.hits]
        counts: dict[str, int] = {}
        first_text: dict[str, str] = {}
        for _, text in proposals:
            try:
                call = resolver.resolve_text(text, preferred)
            except CallParseError:
                continue
            if not call.resolved:
                continue
            key = json.dumps(
                [call.api_id, repr(call.args), sorted((k, repr(v)) for k, v in call.kwargs.items())]
            )
            counts[key] = counts.get(key, 0) + 1
            first_text.setdefault(key, call.code)
        if not counts:
            return proposals[0][1], {}
        best = max(counts, key=lambda k: counts[k])  # max keeps the earliest on ties
        votes = {json.loads(k)[0]: v for k, v in counts.items()}
        return first_text[best], votes

    def warm_up(self) -> None:
        for proposer in self.proposers:
            proposer.arm.warm_up()
        if self.aggregator is not None:
            self.aggregator.warm_up()

    def describe(self) -> JSONObject:
        return super().describe() | {
            "mode": self.mode,
            "layers": self.layers,
            "proposers": [p.label for p in self.proposers],
            "aggregator": self.aggregator.name if self.aggregator else None,
        }
