"""The reranker: a cross-encoder that reads the request and each top candidate together.

The embedder compares two vectors made apart; a cross-encoder attends across the request and
the API's text at once, which can tell "classify dog breeds" from "detect dogs" where the
vectors are close. It is initialised from the shipped MiniLM's weights (a new one-logit
head) and trained on the same (request, API) pairs as the tuned embedder, each with hard
negatives: the retriever's own top hits that are other APIs. Nothing is downloaded.

It is a stage of its own (`TOOLROUTE_RERANK=on`): it reorders the top `depth` hybrid hits
by `logit + fused_weight * fused score`. Whether it is on by default is decided by
cross-validation on the dev split (scripts/dev_cv.py; BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from retriever.errors import EmbedderError, TuningError
from retriever.model_dir import written_atomically
from retriever.text import call_key, doc_views
from retriever.training_loop import run_epochs

if TYPE_CHECKING:
    from apidb import APIDoc
    from retriever.scoring import Hit


class Pair(Protocol):
    """A (request, API) training pair, such as `retriever.tuning.TrainingPair`."""

    @property
    def query(self) -> str: ...
    @property
    def doc(self) -> APIDoc: ...


class Searcher(Protocol):
    """What mining needs of a retriever (`HybridRetriever` is one)."""

    def search(self, query: str, k: int = 5, *, hub: str | None = None) -> list[Hit]: ...


RERANKER_PROVENANCE = "toolroute-reranker.json"
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RerankSettings:
    epochs: int = 1
    learning_rate: float = 3e-5
    batch_size: int = 16
    negatives: int = 3  # hard negatives per pair, from the retriever's top `depth`
    depth: int = 10  # candidates reordered at search time (and mined for negatives)
    max_length: int = 192  # tokens of request + API text
    fused_weight: float = 0.0  # how much of the retriever's own score is kept
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Example:
    query: str
    text: str
    label: float


class CrossEncoderReranker:
    """A trained cross-encoder on the CPU. Thread-safe (one forward pass at a time)."""

    def __init__(self, model_dir: Path, settings: RerankSettings | None = None) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / RERANKER_PROVENANCE).is_file():
            raise EmbedderError(f"no trained reranker at {model_dir}")
        saved = json.loads((model_dir / RERANKER_PROVENANCE).read_text()).get("settings", {})
        self.settings = settings or RerankSettings(
            **{k: v for k, v in saved.items() if k in RerankSettings.__dataclass_fields__}
        )
        self.path = model_dir
        self._tokenizer, self._model = _load(model_dir, new_head=False)
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> npt.NDArray[np.float64]:
        import torch

        if not texts:
            return np.zeros(0)
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                [query] * len(texts),
                texts,
                truncation="only_second",
                max_length=self.settings.max_length,
                padding=True,
                return_tensors="pt",
            )
            logits = self._model(**batch).logits.reshape(-1)
        return np.asarray(logits.numpy(), dtype=np.float64)

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """The first `depth` hits reordered (stable for ties); the rest after them."""
        head, tail = hits[: self.settings.depth], hits[self.settings.depth :]
        logits = self.scores(query, [doc_views(hit.doc)[0] for hit in head])
        combined = blend(logits, [hit.score for hit in head], self.settings.fused_weight)
        order = np.argsort(-combined, kind="stable")
        return [head[i] for i in order] + tail


def blend(
    logits: npt.NDArray[np.float64], fused: list[float], fused_weight: float
) -> npt.NDArray[np.float64]:
    return logits + fused_weight * np.asarray(fused, dtype=np.float64)


def _load(path: Path, *, new_head: bool) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # the new head's "newly initialized"
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), num_labels=1, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot load a cross-encoder from {path}: {exc}") from exc
    if not new_head:
        model.eval()
    return tokenizer, model


# --------------------------------------------------------------------------- training


def mine_examples(
    pairs: Sequence[Pair], retriever: Searcher, settings: RerankSettings
) -> list[Example]:
    """Each pair as a positive, plus up to `negatives` of the retriever's top hits for its
    request that are other APIs (copies of the gold API are not negatives)."""
    examples: list[Example] = []
    for pair in pairs:
        examples.append(Example(pair.query, doc_views(pair.doc)[0], 1.0))
        gold = call_key(pair.doc)
        hits = retriever.search(pair.query, settings.depth, hub=pair.doc.hub)
        negatives = [hit.doc for hit in hits if call_key(hit.doc) != gold][: settings.negatives]
        examples.extend(Example(pair.query, doc_views(doc)[0], 0.0) for doc in negatives)
    return examples


def train_reranker(
    examples: list[Example],
    out_dir: Path,
    *,
    base_model: Path | None = None,
    settings: RerankSettings | None = None,
    progress: ProgressCallback | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Train a cross-encoder on `examples` into `out_dir` (replaced whole, atomically)."""
    from retriever.embedder import default_model_path

    if not any(e.label for e in examples) or all(e.label for e in examples):
        raise TuningError("the reranker needs both positive and negative examples")
    settings = settings or RerankSettings()
    base = base_model or default_model_path()
    started = time.perf_counter()
    tokenizer, model = _load(base, new_head=True)
    try:
        loss = _train(tokenizer, model, examples, settings, progress)
    except RuntimeError as exc:
        raise TuningError(f"training the reranker failed: {exc}") from exc
    with written_atomically(out_dir.resolve(), replace=True) as scratch:
        model.save_pretrained(str(scratch))
        tokenizer.save_pretrained(str(scratch))
        provenance = {
            "base_model": str(base),
            "examples": len(examples),
            "positives": sum(1 for e in examples if e.label),
            "training_data": source or {},
            "settings": asdict(settings),
            "final_loss": round(loss, 6),
            "seconds": round(time.perf_counter() - started, 1),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (scratch / RERANKER_PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    return out_dir.resolve()


def _train(
    tokenizer: Any,
    model: Any,
    examples: list[Example],
    settings: RerankSettings,
    progress: ProgressCallback | None,
) -> float:
    import torch

    loss_fn = torch.nn.BCEWithLogitsLoss()

    def batch_loss(batch: list[Example]) -> Any:
        inputs = tokenizer(
            [e.query for e in batch],
            [e.text for e in batch],
            truncation="only_second",
            max_length=settings.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**inputs).logits.reshape(-1)
        return loss_fn(logits, torch.tensor([e.label for e in batch]))

    return run_epochs(
        model,
        examples,
        batch_loss,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        progress=progress,
    )
