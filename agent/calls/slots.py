"""A function's arguments as the filler sees them (`Slot`), and a candidate value for one
(`Choice`): what the filler (`fill`) and the grammar LLM arms fill under (`grammar`)
share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.jsontypes import JSONObject

# Words that say nothing about which argument a value is for.
STOPWORDS = frozenset(
    """a an the and or of for to in on at by with from be is are it its this that which
    e g eg s specific given certain one""".split()
)


@dataclass(frozen=True)
class Slot:
    """One argument of a function, as the filler sees it: its name's words, and the
    content words of its description before any example ("e.g. Paris" names no slot)."""

    name: str
    schema: JSONObject
    required: bool
    words: frozenset[str] = field(default_factory=frozenset)  # name and description words
    name_words: frozenset[str] = field(default_factory=frozenset)

    @property
    def type(self) -> str:
        kind = self.schema.get("type")
        return kind if isinstance(kind, str) else "string"

    @property
    def item_schema(self) -> JSONObject:
        items = self.schema.get("items")
        return items if isinstance(items, dict) else {}


@dataclass(frozen=True)
class Choice:
    """A candidate value for a slot, with its score and the span it came from."""

    value: Any
    score: float
    span: tuple[int, int] | None = None  # None: an enum member or a flag
    code: bool = False  # a standard code for the span, not the span's own text


def slots(schema: JSONObject | None) -> list[Slot]:
    properties = ((schema or {}).get("properties")) or {}
    required = set((schema or {}).get("required") or [])
    found = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        description = re.split(
            r"\be\.g\.|\bfor example\b|\bsuch as\b|\(", str(spec.get("description", ""))
        )[0]
        name_words = frozenset(stems(str(name)))
        words = name_words | {w for w in stems(description) if w not in STOPWORDS}
        found.append(Slot(str(name), spec, name in required, frozenset(words), name_words))
    return found


def any_of(words: frozenset[str], names: tuple[str, ...]) -> bool:
    return any(name in words for name in names)


def stems(text: str) -> list[str]:
    """Lower-case words, split at `_` and camelCase, with a plural `s` removed."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ")
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]
