"""What a request dictates: the words of a message, a note or a reminder.

"Send a message to John saying I'll be late", "Text Mary that the meeting moved",
"Remind me to call mom at 5 PM": after an opener like these, the rest of the sentence is
one value, for an argument such as `message` or `note`, not a bag of phrases to pick a
word from ("late", "mom"). `dictated(request, times)` finds those stretches. Where the
stretch ends in a date or time ("... at 5 PM"), the stretch without it is offered as well,
so that a request with a time argument gives the time to it and the rest to the note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# What opens a dictated stretch; the stretch starts right after the match.
_OPENERS = re.compile(
    r"""\b(?:
        (?i:saying | which\s+says | that\s+says | that\s+reads
          | with\s+the\s+(?:message|text|note|body|subject|title|caption)
          | remind(?:s|ing)?\s+(?:me|us|him|her|them)\s+to
          | (?:a\s+)?reminder(?:\s+(?:for|at|on)\s+[^.?!]{1,30}?)?\s+to
          | notes?\s+(?:that|to))
      | (?i:text|tell|message|email|notify|inform|ping|let)\s+
        (?:[A-Z][\w'-]*\s+){1,3}(?i:know\s+)?(?i:that)
    )\b[:,]?\s*
    | \b(?i:text|tell|message|email|ping)\s+[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?:\s*
    """,
    re.VERBOSE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
# Words that tie a trailing time to the stretch ("at 5 PM", "on Friday", "by noon").
_TRAILING_TIES = re.compile(
    r"(?:[\s,]+(?:at|on|by|for|in|to|until|till|from|before|after|around|next|this))*[\s,]*$",
    re.IGNORECASE,
)


def dictated(request: str, times: Iterable[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """(start, end) of every dictated stretch, and of each one without a trailing time
    (`times`: where the request's dates and times are)."""
    found: list[tuple[int, int]] = []
    for match in _OPENERS.finditer(request):
        start = match.end()
        stop = _SENTENCE_END.search(request, start)
        end = _trimmed_end(request, start, stop.start() if stop else len(request))
        if end <= start:
            continue
        found.append((start, end))
        shorter = _without_trailing_time(request, start, end, times)
        if shorter is not None:
            found.append((start, shorter))
    return found


def _without_trailing_time(
    request: str, start: int, end: int, times: Iterable[tuple[int, int]]
) -> int | None:
    tails = [t_start for t_start, t_end in times if start < t_start and t_end >= end]
    if not tails:
        return None
    head = _TRAILING_TIES.sub("", request[start : min(tails)])
    return _trimmed_end(request, start, start + len(head)) if head.strip() else None


def _trimmed_end(request: str, start: int, end: int) -> int:
    while end > start and request[end - 1] in " ,;:\"'”’":
        end -= 1
    return end
