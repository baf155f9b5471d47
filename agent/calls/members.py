"""Values the request names among fixed choices: an enum member ("walk" for `walking`), a
flag's name ("open on Sundays" for `open_on_sundays`), and the items it lists ("potato
chips and chocolate"). Part of the filler (`agent.calls.fill`)."""

from __future__ import annotations

import re
from typing import Any

from agent.calls.slots import Choice, Slot, stems
from agent.calls.spans import normalise


def enum_members(slot: Slot, members: list[Any], request: str) -> list[Choice]:
    """The members the request names, best first (`how_named`)."""
    scored = [Choice(member, how_named(member, request)) for member in members]
    return sorted((c for c in scored if c.score > 0), key=lambda c: -c.score)


def how_named(member: Any, request: str) -> float:
    """How the request names an enum member: whole (4), every word (3), every word in
    another form (2.5: "walk" for `walking`), one long word of it (1), or not (0). The
    filler ranks by it and grounding judges by it, so the two never disagree."""
    asked = f" {normalise(request)} "
    text = normalise(str(member))
    words = text.split()
    if not words:
        return 0.0
    if f" {text} " in asked:
        return 4.0
    if all(f" {w} " in asked or f" {w.rstrip('s')} " in asked for w in words):
        return 3.0
    if all(word_stem(w) in {word_stem(a) for a in asked.split()} for w in words):
        return 2.5
    if any(f" {w} " in asked for w in words if len(w) > 3):
        return 1.0
    return 0.0


def word_stem(word: str) -> str:
    """A word without its inflection, enough to match an enum member to the request's
    word ("walking" and "walk", "driving" and "drive", "booked" and "book")."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def listed_items(request: str) -> list[str]:
    """Items a request lists ("potato chips and chocolate", "Apple, Google and Amazon")."""
    item = r"(?:[\w'-]+ ){0,2}[\w'-]+"
    match = re.search(rf"({item})(?:, {item})*,? and ({item})", request)
    if not match:
        return []
    items = [i.strip() for i in re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group(0))]
    names = [re.findall(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*", item) for item in items]
    if all(len(found) == 1 for found in names):
        return [found[0] for found in names]  # "a meeting with John and Jane for ...": names
    return [item for item in items if item]


def flag(slot: Slot, request: str) -> list[Choice]:
    """A boolean is true when the request asks for what its name says ("open on Sundays"
    for `open_on_sundays`); otherwise it is left out."""
    name_words = [
        w for w in stems(slot.name) if w not in ("is", "has", "include", "with", "should")
    ]
    asked = set(stems(request))
    if name_words and sum(w in asked for w in name_words) / len(name_words) >= 0.6:
        return [Choice(True, 3.0)]
    return []
