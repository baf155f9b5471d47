"""A training pair of the embedder: a request and the API it asks for (its own module so
that the modules that make pairs and the one that trains on them do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass

from apidb import APIDoc


@dataclass(frozen=True, slots=True)
class TrainingPair:
    query: str
    doc: APIDoc
    # A wrong API the retriever ranks high for this request (`retriever.hard_negatives`):
    # one more column of the batch, harder than the other pairs' APIs.
    negative: APIDoc | None = None
