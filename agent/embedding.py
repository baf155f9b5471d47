"""Which embedders the service uses, from the settings.

Two roles, two models:

- **the catalog's index**: by default MiniLM fine-tuned on APIBench's training data (the
  dev split and torchhub_train.json, never a held-out question), trained into
  `DATA/models/minilm-apibench` by the first index build and reused after. On held-out
  APIBench it retrieves better than the shipped model on every hub (BENCHMARKS.md, #21).
  `TOOLROUTE_EMBEDDER_MODEL=DIR` uses that model instead; `TOOLROUTE_EMBEDDER_TUNING=off`
  the shipped MiniLM as is.
- **an agent's own tools** (`/v1/chat/completions`, `bench calls`): the shipped MiniLM (or
  `TOOLROUTE_EMBEDDER_MODEL`). The tuned model learned what model-API requests look like;
  on the function-calling development data it chose no better, and the decline threshold
  was calibrated on the shipped model's similarities (`agent/calls/calibration.json`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import Settings
    from apidb import CatalogStore
    from retriever import HybridRetriever
    from retriever.embedder import Embedder, Precision, SentenceTransformerEmbedder
    from retriever.rerank import CrossEncoderReranker
    from retriever.tuning import ProgressCallback

logger = logging.getLogger("toolroute.embedding")

DEFAULT_TUNED_MODEL = "minilm-apibench"  # under DATA/models
DEFAULT_RERANKER = "reranker-apibench"
# From this many APIs a new index embeds with int8 weights: at 100,000 the fp32 build takes
# about 40 minutes on 2 cores, int8 about a third of that; on APIBench (1,726 APIs, fp32)
# int8 moved held-out recall@5 by -1.4 to +1.2 points (BENCHMARKS.md).
INT8_FROM_APIS = 20_000


def default_tuned_model_dir(settings: Settings) -> Path:
    return settings.data_dir / "models" / DEFAULT_TUNED_MODEL


def catalog_model_path(
    settings: Settings, store: CatalogStore, *, progress: ProgressCallback | None = None
) -> Path | None:
    """The model directory the catalog's index embeds with (None: the shipped MiniLM),
    training the default tuned model first if it is missing."""
    if settings.embedder_model is not None:
        return settings.embedder_model
    if settings.embedder_tuning == "off":
        return None
    from retriever.errors import TuningError
    from retriever.tuning import ensure_tuned_model

    target = default_tuned_model_dir(settings)
    try:
        return ensure_tuned_model(
            store, target, progress=progress or _logged("tuning the embedder")
        )
    except TuningError as exc:
        # A catalog without the APIBench hubs has nothing to train on; it still works,
        # with the shipped model.
        logger.warning("using the shipped embedder: cannot tune the default one: %s", exc)
        return None


def catalog_embedder(
    settings: Settings, store: CatalogStore, *, progress: ProgressCallback | None = None
) -> SentenceTransformerEmbedder:
    from retriever.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        catalog_model_path(settings, store, progress=progress),
        precision=catalog_precision(settings, store),
    )


def catalog_precision(settings: Settings, store: CatalogStore) -> Precision:
    """fp32 or int8 for the catalog's embedder. `auto` keeps what the existing index was
    built with, so that a catalog growing past the threshold is never re-embedded behind
    the operator's back at a restart; a new index takes int8 from `INT8_FROM_APIS`."""
    if settings.embedder_precision != "auto":
        return settings.embedder_precision
    from retriever.persistence import built_precision

    existing = built_precision(settings.index_dir)
    if existing is not None:
        return existing
    return precision_for_size(store.count())


def precision_for_size(apis: int) -> Precision:
    return "int8" if apis >= INT8_FROM_APIS else "fp32"


def tools_embedder(settings: Settings, catalog: Embedder) -> Embedder:
    """The embedder for an agent's own tools (see the module's docstring): the catalog's
    own when that is the same model at full precision, so it is loaded once. (A toolset is
    a handful of tools: int8 would save nothing, and the decline threshold was calibrated
    on fp32 similarities.)"""
    from retriever.embedder import SentenceTransformerEmbedder, default_model_path

    wanted = settings.embedder_model or default_model_path()
    same_model = Path(getattr(catalog, "path", "")).resolve() == Path(wanted).resolve()
    if same_model and getattr(catalog, "precision", "fp32") == "fp32":
        return catalog
    return SentenceTransformerEmbedder(settings.embedder_model)


def catalog_reranker(
    settings: Settings, retriever: HybridRetriever, *, progress: ProgressCallback | None = None
) -> CrossEncoderReranker | None:
    """The reranker stage when `TOOLROUTE_RERANK=on`: trained the first time (on the same
    pairs as the tuned embedder, hard negatives mined with `retriever`), reused after."""
    if settings.rerank == "off":
        return None
    from retriever.model_dir import trained_once
    from retriever.rerank import (
        RERANKER_PROVENANCE,
        CrossEncoderReranker,
        RerankSettings,
        mine_examples,
        train_reranker,
    )
    from retriever.tuning import apibench_training_pairs

    target = settings.data_dir / "models" / DEFAULT_RERANKER

    def train() -> None:
        train_reranker(
            mine_examples(apibench_training_pairs(retriever.store), retriever, RerankSettings()),
            target,
            progress=progress or _logged("training the reranker"),
            source={"apibench_splits": ["train", "dev"], "mined_with": retriever.embedder.name},
        )

    trained_once(target, RERANKER_PROVENANCE, train)
    return CrossEncoderReranker(target)


def _logged(label: str) -> ProgressCallback:
    """Progress for a service starting without a terminal: a log line every 10%, so a
    first start that trains (minutes) is not silent."""
    last = -1

    def tick(done: int, total: int) -> None:
        nonlocal last
        tenth = 10 * done // max(total, 1)
        if tenth != last:
            last = tenth
            logger.info("%s (once): %d%%", label, 10 * tenth)

    return tick
