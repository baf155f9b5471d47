"""Select: which of the retrieved APIs the request means, scored one at a time, and
whether any of them fits at all.

Each candidate is scored alone (no prompt listing them, so no position bias) by the cosine
similarity of the request and the API's embedding (`Hit.similarity`). On the development
cases (`agent/calls/dataset.py`) it chose the right function among 2-4 in 97.3% of cases,
against 95.5% for the retriever's fused score and 95.5% for the log-likelihood of the request
under Gemma 3 270M given the function (which costs ~0.25 s a candidate and added nothing in
combination; BENCHMARKS.md). Functions and HTTP operations are ordered by it; Python model
APIs keep the retriever's fused order, which was tuned for them.

The selection's confidence is the calibrated probability that the request fits one of the
offered APIs: a logistic fit of the best similarity on the development cases (choose:
fits, decline: does not; `agent.calls.calibrate`, 5-fold cross-validated). Below the
decline threshold nothing is called. Catalogs of model APIs describe their entries at
length and score lower, so they have their own floor, set so that 99% of the APIBench
development questions (every one of which has an answer) still get a call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agent.errors import ConfigError
from agent.jsontypes import JSONObject

if TYPE_CHECKING:
    from apidb import APIDoc
    from retriever import Hit

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True, slots=True)
class Calibration:
    slope: float
    intercept: float
    decline_below: float  # the confidence under which nothing is called
    python_min_similarity: float  # catalogs of model APIs: decline below this similarity
    fallback_within: float = 1.0  # functions: try a later candidate this close to the best
    provenance: str = ""

    def confidence(self, similarity: float) -> float:
        z = self.slope * similarity + self.intercept
        return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> JSONObject:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "decline_below": self.decline_below,
            "python_min_similarity": self.python_min_similarity,
            "fallback_within": self.fallback_within,
            "provenance": self.provenance,
        }


@cache
def default_calibration() -> Calibration:
    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return Calibration(
        float(data["slope"]),
        float(data["intercept"]),
        float(data["decline_below"]),
        float(data["python_min_similarity"]),
        float(data.get("fallback_within", 1.0)),
        str(data.get("provenance", "")),
    )


def calibration_for(embedder_name: str) -> Calibration:
    """The calibration for hits from an embedder: a tuned embedder's similarities run
    higher than the shipped model's, so it has its own floor for model APIs
    (`by_embedder` in the file; `agent.calls.calibrate --cv-models`)."""
    return _calibration_for(embedder_name)


@cache
def _calibration_for(embedder_name: str) -> Calibration:
    base = default_calibration()
    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    own = (data.get("by_embedder") or {}).get(embedder_name)
    if not isinstance(own, dict):
        return base
    return replace(base, python_min_similarity=float(own["python_min_similarity"]))


ToolChoiceMode = Literal["auto", "none", "required", "function"]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """OpenAI's `tool_choice`: `auto` (call when a tool fits), `none` (never call),
    `required` (always call the best), or one named function (always call it)."""

    mode: ToolChoiceMode = "auto"
    function: str | None = None

    @classmethod
    def parse(cls, value: object) -> ToolChoice:
        """From the OpenAI forms: a string, `{"type": "function", "function": {"name": N}}`,
        or the legacy `function_call` forms (`{"name": N}`). Raises `ConfigError`."""
        if value is None or value == "auto":
            return cls()
        if value in ("none", "required"):
            return cls("none" if value == "none" else "required")
        if isinstance(value, dict):
            inner = value.get("function", value)
            name = inner.get("name") if isinstance(inner, dict) else None
            if isinstance(name, str) and name:
                return cls("function", name)
        raise ConfigError(
            "tool_choice must be 'auto', 'none', 'required' or "
            '{"type": "function", "function": {"name": ...}}'
        )

    def to_json(self) -> JSONObject:
        return {"mode": self.mode, "function": self.function}


AUTO = ToolChoice()


@dataclass(frozen=True, slots=True)
class Candidate:
    hit: Hit
    similarity: float

    @property
    def doc(self) -> APIDoc:
        return self.hit.doc


@dataclass(frozen=True, slots=True)
class CallSelection:
    """The candidates in the order to try them, the confidence that one fits, and whether
    the request is declined (and why)."""

    candidates: list[Candidate]
    confidence: float
    declined: bool
    reason: str = ""
    # How many of the candidates, from the first, may be tried: a later one only when it
    # is itself close enough to the request (`Calibration.fallback_within`).
    eligible: int = 1

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_try(self, limit: int) -> list[Candidate]:
        if self.declined:
            return []
        return self.candidates[: max(0, min(limit, self.eligible))]

    def to_json(self) -> JSONObject:
        return {
            "candidates": [
                {"id": c.doc.id, "similarity": round(c.similarity, 4)} for c in self.candidates
            ],
            "confidence": round(self.confidence, 4),
            "declined": self.declined,
            "reason": self.reason,
            "eligible": self.eligible,
        }


def select(
    hits: list[Hit],
    *,
    calibration: Calibration | None = None,
    choice: ToolChoice = AUTO,
) -> CallSelection:
    """Order the hits, and decide whether to call. A named function in `choice` is the
    only candidate; `required` never declines; `none` always does."""
    calibration = calibration or default_calibration()
    candidates = [
        Candidate(hit, hit.similarity if hit.similarity is not None else 0.0) for hit in hits
    ]
    if choice.mode == "none":
        return CallSelection([], 0.0, True, "the client asked for no call (tool_choice: none)")
    if choice.mode == "function":
        candidates = [c for c in candidates if _callable(c.doc) == choice.function]
        if not candidates:
            reason = f"the required function {choice.function!r} was not offered"
            return CallSelection([], 0.0, True, reason)
        return CallSelection(candidates[:1], 1.0, False, "the client named the function")
    if not candidates:
        return CallSelection([], 0.0, True, "nothing was retrieved")
    python = candidates[0].doc.kind == "python"
    if not python:
        candidates.sort(key=lambda c: -c.similarity)  # stable: ties keep the fused order
    best = max(c.similarity for c in candidates)
    confidence = calibration.confidence(best)
    eligible = _eligible(candidates, best, calibration, python=python)
    if choice.mode == "required":
        return CallSelection(candidates, confidence, False, "the client requires a call", eligible)
    floor_missed = (
        best < calibration.python_min_similarity
        if python
        else confidence < calibration.decline_below
    )
    if floor_missed:
        return CallSelection(candidates, confidence, True, _too_far(best), eligible)
    return CallSelection(candidates, confidence, False, "", eligible)


def _eligible(
    candidates: list[Candidate], best: float, calibration: Calibration, *, python: bool
) -> int:
    """How many candidates, from the first, a failed call may fall back to. Model APIs
    keep the retriever's order and every one above the floor may be tried (their calls
    either run or not); functions only while they are close to the best, so that a
    right function whose call was incomplete does not give way to a wrong one."""
    count = 1
    for candidate in candidates[1:]:
        if python:
            close = candidate.similarity >= calibration.python_min_similarity
        else:
            close = best - candidate.similarity <= calibration.fallback_within and (
                calibration.confidence(candidate.similarity) >= calibration.decline_below
            )
        if not close:
            break
        count += 1
    return count


def _too_far(similarity: float) -> str:
    return f"no offered API fits the request (best similarity {similarity:.2f})"


def _callable(doc: APIDoc) -> str:
    from agent.resolve import callable_name

    return callable_name(doc)
