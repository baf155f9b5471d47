"""Context features for contextual policies (linucb).

    [1, projected query embedding (8), top hit score, top-1 − top-2 margin,
     hub one-hot (huggingface, torchhub, tensorflowhub, other),
     kind of the top hit one-hot (python, function, http)]

The query embedding is reduced by a fixed random Gaussian projection (seeded, so every
process computes the same features) and scaled to unit length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from router.policies import FloatArray

PROJECTED_DIMS = 8
KNOWN_HUBS = ("huggingface", "torchhub", "tensorflowhub")
KINDS = ("python", "function", "http")
FEATURE_DIM = 1 + PROJECTED_DIMS + 2 + len(KNOWN_HUBS) + 1 + len(KINDS)
_PROJECTION_SEED = 20261121


class FeatureBuilder:
    def __init__(self) -> None:
        self._projections: dict[int, FloatArray] = {}

    def _projection(self, dim: int) -> FloatArray:
        if dim not in self._projections:
            rng = np.random.default_rng(_PROJECTION_SEED)
            self._projections[dim] = rng.normal(size=(dim, PROJECTED_DIMS)) / np.sqrt(
                PROJECTED_DIMS
            )
        return self._projections[dim]

    def build(
        self,
        query_vector: Any | None,
        scores: Sequence[float],
        hub: str | None,
        kind: str | None,
    ) -> FloatArray:
        x = np.zeros(FEATURE_DIM)
        x[0] = 1.0
        if query_vector is not None:
            v = np.asarray(query_vector, dtype=float).ravel()
            projected = v @ self._projection(v.shape[0])
            norm = np.linalg.norm(projected)
            x[1 : 1 + PROJECTED_DIMS] = projected / norm if norm > 0 else projected
        at = 1 + PROJECTED_DIMS
        top = float(scores[0]) if scores else 0.0
        second = float(scores[1]) if len(scores) > 1 else 0.0
        x[at], x[at + 1] = top, top - second
        at += 2
        hub_index = KNOWN_HUBS.index(hub) if hub in KNOWN_HUBS else len(KNOWN_HUBS)
        x[at + hub_index] = 1.0 if hub else 0.0
        at += len(KNOWN_HUBS) + 1
        if kind in KINDS:
            x[at + KINDS.index(kind)] = 1.0
        return x
