"""Several calls from one request.

Two shapes, each split only when the text leaves no doubt:

- several requests in one: clauses joined by "and"/"then"/";" where each clause starts with a
  verb of its own ("Book a flight to Paris and find a hotel in Rome") become parts that are
  each selected, filled and verified on their own;
- one request for several values ("the weather in Paris and in Rome"): after the function
  is filled, a value the request joins to the one used ("X and Y", "X, Y and Z") that no
  argument took asks for the same call again with that value (`more_values`). When the
  function takes both ("the correlation between Apple and Microsoft"), they are one call.

A part that refers back to what an earlier part returns ("get the weather in Paris, then
email it to Ana") cannot be called before that result exists: `stages` groups the parts
into the turns of an agent loop, and `refer_to` writes the result into the waiting part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.calls.spans import COMMAND_VERBS, Span, normalise, spans

_SPLIT = re.compile(r"(?:,\s*|\s+)(?:and\s+then|and|then|also)\s+|;\s*", re.IGNORECASE)


# Words with which a part points at an earlier part's result.
_BACK_REFERENCE = re.compile(
    r"\b(?:the\s+results?|the\s+answer|the\s+output|it|that|them|this)\b", re.IGNORECASE
)


def parts(request: str) -> list[str]:
    """The request's parts, each a request of its own (usually just the request)."""
    return [request[start:end] for start, end in _part_spans(request)] or [request]


def stages(request: str) -> list[str]:
    """The request as the turns of an agent loop: the parts that can be called now, then
    each part that refers back to an earlier result (with the parts after it that do not),
    each stage a slice of the request (so `parts` splits it again)."""
    spans = _part_spans(request)
    if not spans:
        return [request]
    groups: list[list[tuple[int, int]]] = [[spans[0]]]
    for start, end in spans[1:]:
        if _BACK_REFERENCE.search(request[start:end]):
            groups.append([(start, end)])
        else:
            groups[-1].append((start, end))
    return [request[group[0][0] : group[-1][1]] for group in groups]


def refer_to(stage: str, result: str) -> str:
    """The stage with its first back-reference replaced by the result it points at, quoted
    so that the filler takes it as one value ("email "18 C, cloudy" to Ana")."""
    quoted = '"' + " ".join(result.replace('"', "'").split()) + '"'
    return _BACK_REFERENCE.sub(lambda _: quoted, stage, count=1)


def _part_spans(request: str) -> list[tuple[int, int]]:
    """Where each part is in the request, without the joining words and punctuation."""
    found: list[tuple[int, int]] = []
    start = 0
    for match in _SPLIT.finditer(request):
        following = request[match.end() :].split(maxsplit=1)
        if (
            following
            and following[0].lower().strip(",.") in COMMAND_VERBS
            and match.start() > start
        ):
            found.append(_trimmed(request, start, match.start()))
            start = match.end()
    found.append(_trimmed(request, start, len(request)))
    return [(a, b) for a, b in found if b > a]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " ,;":
        start += 1
    while end > start and text[end - 1] in " ,;":
        end -= 1
    return start, end


def more_values(request: str, arguments: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(argument, the value it took, another value the request joins to it and no argument
    took), for every such value: each asks for the same call again with that value."""
    found = [s for s in spans(request) if s.kind in ("proper", "quoted", "number")]
    anchors = {
        name: _span_of(found, value)
        for name, value in arguments.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    taken = [(a.start, a.end) for a in anchors.values() if a is not None]
    extra: list[tuple[str, Any, Any]] = []
    for name, anchor in anchors.items():
        if anchor is None:
            continue
        for other in _joined(request, found, anchor):
            if any(other.start < end and start < other.end for start, end in taken):
                continue  # another argument took it (or a name that holds it)
            taken.append((other.start, other.end))
            value = other.text if other.kind == "proper" else other.value
            extra.append((name, arguments[name], value))
    return extra


def _span_of(found: list[Span], value: Any) -> Span | None:
    """The longest span that spells the value."""
    key = normalise(str(value))
    matching = [s for s in found if normalise(str(s.value)) == key]
    return max(matching, key=lambda s: s.end - s.start) if matching else None


def _joined(request: str, found: list[Span], anchor: Span) -> list[Span]:
    """Spans of the anchor's kind that a list ("A and B", "A, B and C") joins to it, read
    from the anchor to the right only (the anchor is the first value the filler took)."""
    joined: list[Span] = []
    position = anchor.end
    # At each place, the longest span of the anchor's kind ("Paris, France", not "Paris").
    starts: dict[int, Span] = {}
    for span in found:
        if span.kind == anchor.kind and span.start >= position:
            if span.start not in starts or span.end > starts[span.start].end:
                starts[span.start] = span
    for span in sorted(starts.values(), key=lambda s: s.start):
        if span.start < position:
            continue
        gap = request[position : span.start].lower()
        if not re.fullmatch(r"\s*(?:,\s*)?(?:and|or|,)?\s*(?:in|for|at|of|on|to)?\s*", gap):
            break
        if not gap.strip():  # adjacent words are one name, not a list
            break
        joined.append(span)
        position = span.end
    return joined
