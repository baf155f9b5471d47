"""What of a doc gets indexed, and how text becomes BM25 tokens.

The choice of fields was measured (BENCHMARKS.md, "Choosing what to index"): the dense side
embeds three views of each doc and averages them; BM25 indexes everything, stemmed.
Bump `TEXT_VERSION` whenever these functions change, so that indexes built with the old
text are rebuilt instead of silently mixing two schemes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from apidb import APIDoc

TEXT_VERSION = 1
_EXAMPLE_CHARS = 500

_STOPWORDS = frozenset(
    """a an the of to for in on and or is are be can i we you it this that with from as by my
    our me us need want would like using use which what how do does please some any into their
    its will should could model api""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"([a-z])([A-Z])")


def doc_views(doc: APIDoc) -> list[str]:
    """The texts whose embeddings are averaged into the doc's one dense vector.

    A full view (name, domain, functionality, description, a slice of example code), a task
    view (domain, functionality, description) and the bare description. Averaging the three
    beat any single one on the dev sets: the full view carries identifiers, the short views
    keep long example code from drowning the description.
    """
    functionality = str(doc.extra.get("functionality", ""))
    examples = " ".join(doc.examples)[:_EXAMPLE_CHARS]
    performance = str(doc.extra.get("performance", ""))
    full = f"{doc.name}. {doc.domain}. {functionality}. {doc.description} {examples} {performance}"
    task = f"{doc.domain}. {functionality}. {doc.description}"
    return [full, task, doc.description or doc.name]


def bm25_text(doc: APIDoc) -> str:
    """Everything a keyword match could use, including the call text and parameter names."""
    parameters = " ".join((doc.parameters or {}).get("properties", {}) or [])
    return f"{doc_views(doc)[0]} {doc.call} {parameters}"


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import snowballstemmer  # small, pure Python

    return snowballstemmer.stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lowercase words, camelCase split, stopwords dropped, Snowball-stemmed."""
    words = _WORD.findall(_CAMEL.sub(r"\1 \2", text).lower())
    kept = [w for w in words if w not in _STOPWORDS]
    stems: list[str] = _stemmer().stemWords(kept)  # type: ignore[attr-defined]
    return stems


def normalise_call(call: str) -> str:
    """Call text with whitespace, a trailing period and the quote style ignored."""
    return re.sub(r"\s+", "", call).rstrip(".").replace('"', "'")


def call_key(doc: APIDoc) -> tuple[str, str]:
    """Docs with the same key are the same API listed twice (APIBench repeats some)."""
    return doc.hub, normalise_call(doc.call) or doc.id
