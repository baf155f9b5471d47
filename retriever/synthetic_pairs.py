"""Training pairs written from the catalog itself, for APIs that no request names.

APIBench's training questions cover a fraction of the catalog (the dev split and
torchhub_train name about a third of the huggingface APIs). Every doc says what it does,
in its `functionality` label and the first sentence of its description; written as a
request, with the API's own name taken out (a user rarely knows it), that is a pair for
every API. The pairs are weaker than real requests and are only used where a
cross-validation of the dev split says they help (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from apidb import APIDoc
from retriever.pairs import TrainingPair

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_MIN_CHARS = 20


def catalog_pairs(docs: Iterable[APIDoc]) -> list[TrainingPair]:
    """One pair per doc that describes itself in at least a few words."""
    pairs = []
    for doc in docs:
        query = _as_request(doc)
        if len(query) >= _MIN_CHARS:
            pairs.append(TrainingPair(query, doc))
    return pairs


# `functionality` values that name a library or a training detail, not a task: the
# doc's domain says more ("Natural Language Processing Summarization").
_NOT_A_TASK = {"transformers", "sentence transformers", "carbon emissions", "pytorch transformers"}


def _task(doc: APIDoc, names: tuple[str, ...]) -> str:
    functionality = str((doc.extra or {}).get("functionality") or "").strip()
    named = any(name.lower() in functionality.lower() for name in names)
    if named or functionality.lower() in _NOT_A_TASK or len(functionality) < 4:
        return doc.domain
    return functionality


def _as_request(doc: APIDoc) -> str:
    # The name, whole or its last part ("bart-large" of "facebook/bart-large"), is what a
    # request lacks.
    names = tuple(n for n in (doc.name, doc.name.rsplit("/", 1)[-1]) if len(n) > 2)
    first = _SENTENCE_END.split((doc.description or "").strip(), maxsplit=1)[0]
    for name in names:
        first = re.sub(re.escape(name), "this model", first, flags=re.IGNORECASE)
    return f"{_task(doc, names)}: {first}".strip(" :")
