"""Fine-tune the embedder on (request, API) pairs: `toolroute index tune`.

The shipped MiniLM was trained on general sentence pairs, not on "what a user asks" against
"what an API doc says". A short contrastive fine-tune on such pairs moves it toward that
task (BENCHMARKS.md, "Fine-tuning the embedder"). The default pairs are APIBench's dev
split of every hub plus torchhub_train.json (1,193 pairs); held-out questions never train.

Training is in-batch-negatives contrastive loss (sentence-transformers' MultipleNegatives-
Ranking, written out here so that copies of the same API in one batch are masked out instead
of counted as negatives: APIBench repeats some APIs dozens of times). The tuned model is a
new model directory, written atomically beside a provenance file; the index built with the
old model notices the new embedder and rebuilds. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apidb import CatalogStore
from retriever.config import MAX_QUERY_CHARS, Split

if TYPE_CHECKING:
    from retriever.benchmark import Question
from retriever.embedder import (
    DEFAULT_MAX_SEQ_LENGTH,
    default_model_path,
    load_sentence_transformer,
    model_fingerprint,
)
from retriever.errors import TuningError
from retriever.model_dir import check_output_free, trained_once, written_atomically
from retriever.pairs import TrainingPair
from retriever.prior import PRIOR_FILE, DomainPrior, fit_domain_prior
from retriever.text import call_key, doc_views
from retriever.training_loop import run_epochs

PROVENANCE_FILE = "toolroute-tuning.json"
# cosine -> logits, sentence-transformers' MultipleNegativesRankingLoss default
_SCALE = 20.0
_MAX_LISTED = 5  # unknown ids named in an error message

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TuningSettings:
    # One epoch at 5e-5 was chosen on the dev splits among 1-3 epochs at 2e-5 and 5e-5: the
    # differences between those were within noise, and one epoch is the cheapest.
    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 32
    seed: int = 0


@dataclass(frozen=True, slots=True)
class TuningResult:
    path: Path
    pairs: int
    seconds: float
    final_loss: float


# --------------------------------------------------------------------------- pairs


def apibench_training_pairs(
    store: CatalogStore,
    splits: tuple[Split, ...] = ("train", "dev"),
    *,
    keep: Callable[[Question], bool] | None = None,
) -> list[TrainingPair]:
    """The default pairs, APIBench's training data under the project's protocol: every hub's
    dev split (`question_id % 5 == 0`) and torchhub_train.json, each question with its gold
    API as the catalog has it. Never a held-out question, which the reported figures use.
    `keep` leaves questions out (a cross-validation fold of the dev split)."""
    from apidb.names import APIBENCH_HUBS
    from retriever.benchmark import GoldIndex, load_questions

    pairs = []
    for hub in APIBENCH_HUBS:
        docs = store.list_docs(hub=hub)
        gold = GoldIndex(docs)
        by_id = {doc.id: doc for doc in docs}
        for split in splits:
            for question in load_questions(hub, split):
                if keep is not None and not keep(question):
                    continue
                ids = sorted(gold.gold_ids(question))
                if ids:
                    # Of the catalog's copies of the gold call, the one filed under the
                    # question's own domain: the prior learns that domain from the pair.
                    ids.sort(key=lambda i: by_id[i].domain != question.gold_domain)
                    pairs.append(TrainingPair(question.text, by_id[ids[0]]))
    if len(pairs) < 2:
        raise TuningError(
            "the catalog has too few of the APIBench APIs that the bundled training "
            "questions are about; give your own pairs with --pairs FILE"
        )
    return pairs


def load_training_pairs(path: Path, store: CatalogStore) -> list[TrainingPair]:
    """Pairs from a JSON Lines file, one `{"query": "...", "api_id": "..."}` per line.

    Every line is checked before any training starts; the first problems are named with
    their line numbers.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TuningError(f"cannot read the pairs file {path}: {exc}") from exc
    wanted: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        wanted.append((number, *_parse_pair(path, number, line)))
    docs = store.get_many(list(dict.fromkeys(api_id for _, _, api_id in wanted)))
    unknown = [f"{api_id!r} (line {n})" for n, _, api_id in wanted if api_id not in docs]
    if unknown:
        listed = ", ".join(unknown[:_MAX_LISTED])
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        raise TuningError(f"{path}: API ids not in the catalog: {listed}{more}")
    return [TrainingPair(query, docs[api_id]) for _, query, api_id in wanted]


def pairs_from_ids(store: CatalogStore, items: list[tuple[str, str]]) -> list[TrainingPair]:
    """Pairs from (request, API id) items, such as approved tasks; an id the catalog no
    longer has (the API was removed since) is skipped."""
    docs = store.get_many(list(dict.fromkeys(api_id for _, api_id in items)))
    return [
        TrainingPair(query[:MAX_QUERY_CHARS], docs[api_id])
        for query, api_id in items
        if api_id in docs and query.strip()
    ]


def _parse_pair(path: Path, number: int, line: str) -> tuple[str, str]:
    where = f"{path}, line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TuningError(f"{where}: not JSON: {exc.msg}") from exc
    if not isinstance(record, dict):
        raise TuningError(f'{where}: expected an object {{"query": ..., "api_id": ...}}')
    query, api_id = record.get("query"), record.get("api_id")
    if not isinstance(query, str) or not query.strip():
        raise TuningError(f'{where}: "query" must be a non-empty string')
    if len(query) > MAX_QUERY_CHARS:
        raise TuningError(f"{where}: the query is over {MAX_QUERY_CHARS:,} characters")
    if not isinstance(api_id, str) or not api_id.strip():
        raise TuningError(f'{where}: "api_id" must be a non-empty string')
    return query.strip(), api_id.strip()


# --------------------------------------------------------------------------- training


def tune_embedder(
    pairs: list[TrainingPair],
    out_dir: Path,
    *,
    base_model: Path | None = None,
    settings: TuningSettings | None = None,
    replace: bool = False,
    progress: ProgressCallback | None = None,
    source: dict[str, Any] | None = None,
) -> TuningResult:
    """Fine-tune `base_model` (default: the shipped MiniLM) on `pairs`; write it to `out_dir`.
    `source` says where the pairs came from (kept in the provenance file: a benchmark report
    uses it to tell whether the model has seen the questions it is scored on).

    `out_dir` appears whole or not at all: the model is written to a scratch directory
    beside it and renamed into place. An existing `out_dir` is replaced only if `replace`.
    """
    if len(pairs) < 2:
        raise TuningError(
            f"{len(pairs)} training pair(s); training contrasts the pairs of a batch with "
            "each other, so it needs at least 2"
        )
    settings = settings or TuningSettings()
    base = base_model or default_model_path()
    out_dir = out_dir.resolve()
    _check_destination(base.resolve(), out_dir, replace)
    started = time.perf_counter()
    model = load_sentence_transformer(base)
    model.max_seq_length = DEFAULT_MAX_SEQ_LENGTH  # train at the length the index embeds
    try:
        final_loss = _train(model, pairs, settings, progress)
    except RuntimeError as exc:  # torch's errors, such as running out of memory
        raise TuningError(f"training failed: {exc}") from exc
    with written_atomically(out_dir, replace=replace) as scratch:
        model.save(str(scratch))
        prior = _fit_prior(model, pairs)
        if prior is not None:
            prior.save(scratch / PRIOR_FILE)
        provenance = {
            "base_model": str(base),
            "base_fingerprint": model_fingerprint(base),
            "pairs": len(pairs),
            "pairs_sha256": _pairs_digest(pairs),
            "training_data": source or {},
            "settings": asdict(settings),
            "final_loss": round(final_loss, 6),
            "weights_sha256": _weights_digest(scratch),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (scratch / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    return TuningResult(out_dir, len(pairs), time.perf_counter() - started, final_loss)


def trained_on_splits(model_dir: Path | str | None) -> set[str] | None:
    """The APIBench splits a tuned model was trained on (empty for the shipped model);
    None when it was trained on pairs from a file, whose overlap nobody knows."""
    if model_dir is None:
        return set()
    provenance = Path(model_dir) / PROVENANCE_FILE
    if not provenance.is_file():
        return set()
    try:
        data = json.loads(provenance.read_text()).get("training_data") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    splits = data.get("apibench_splits") if isinstance(data, dict) else None
    return {str(split) for split in splits} if isinstance(splits, list) else None


def is_contaminated(split: str, trained: set[str] | None) -> bool | None:
    """Whether figures on `split` come from questions the model was trained on (None:
    unknown). `all` holds the dev questions; the torchhub train file is its own split."""
    if trained is None:
        return None
    seen = {"dev", "all"} if "dev" in trained else set()
    if "train" in trained:
        seen.add("train")
    return split in seen


def _check_destination(base: Path, out_dir: Path, replace: bool) -> None:
    if out_dir == base or out_dir in base.parents:
        raise TuningError(f"the output directory {out_dir} would overwrite the base model")
    check_output_free(out_dir, replace)


def _train(
    model: Any,
    pairs: list[TrainingPair],
    settings: TuningSettings,
    progress: ProgressCallback | None,
) -> float:
    def batch_loss(batch: list[TrainingPair]) -> Any | None:
        # A lone pair has no negative to learn from.
        return _batch_loss(model, batch) if len(batch) > 1 else None

    return run_epochs(
        model,
        pairs,
        batch_loss,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        progress=progress,
    )


def _batch_loss(model: Any, batch: list[TrainingPair]) -> Any:
    """Cross-entropy of each request against every doc of the batch, its own as the label."""
    import torch
    import torch.nn.functional as functional

    columns = [pair.doc for pair in batch] + [p.negative for p in batch if p.negative is not None]
    queries = model(model.preprocess([pair.query for pair in batch]))["sentence_embedding"]
    docs = model(model.preprocess([doc_views(doc)[0] for doc in columns]))["sentence_embedding"]
    logits = _SCALE * (functional.normalize(queries, dim=-1) @ functional.normalize(docs, dim=-1).T)
    # Another copy of the same API is not a negative (APIBench repeats APIs).
    rows = [call_key(pair.doc) for pair in batch]
    keys = [call_key(doc) for doc in columns]
    same_api = torch.tensor([[row == key for key in keys] for row in rows])
    own_column = torch.eye(len(batch), len(columns), dtype=torch.bool)
    logits = logits.masked_fill(same_api & ~own_column, -1e4)
    return functional.cross_entropy(logits, torch.arange(len(batch)))


def _fit_prior(model: Any, pairs: list[TrainingPair]) -> DomainPrior | None:
    """The task-type prior on the tuned model's embeddings of the same requests."""
    vectors = model.encode(
        [pair.query for pair in pairs],
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return fit_domain_prior(vectors, [pair.doc.domain for pair in pairs])


def _pairs_digest(pairs: list[TrainingPair]) -> str:
    digest = hashlib.sha256()
    for pair in pairs:
        # A pair without a negative hashes as it always has (older provenance files agree).
        negative = f"\t{pair.negative.id}" if pair.negative is not None else ""
        digest.update(f"{pair.query}\t{pair.doc.id}\t{pair.doc.version}{negative}\n".encode())
    return digest.hexdigest()


def _weights_digest(model_dir: Path) -> str:
    """The weights' own hash: it goes into the provenance file, and with it into the
    model's fingerprint, so two tunings that differ only in their weights are told apart."""
    digest = hashlib.sha256()
    for file in sorted(model_dir.rglob("*.safetensors")) + sorted(model_dir.rglob("*.bin")):
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the default model


def tune_with_negatives(
    pairs: list[TrainingPair],
    store: CatalogStore,
    out_dir: Path,
    *,
    negatives: bool = True,
    base_model: Path | None = None,
    settings: TuningSettings | None = None,
    replace: bool = False,
    progress: ProgressCallback | None = None,
    source: dict[str, Any] | None = None,
) -> TuningResult:
    """`tune_embedder` with a mined hard negative per pair (unless not `negatives`): on
    APIBench's dev cross-validation that raised every hub's domain@1 and MRR
    (BENCHMARKS.md). `progress` covers the mining too."""
    from retriever.hard_negatives import mined_with_shipped_model
    from retriever.progress import staged

    if negatives and len(pairs) >= 2:
        check_output_free(out_dir.resolve(), replace)  # before minutes of mining
        stages = staged(progress, _STAGE_SHARES)
        pairs = mined_with_shipped_model(
            pairs, store, index_progress=stages["index"], mining_progress=stages["mine"]
        )
        progress = stages["train"]
    return tune_embedder(
        pairs,
        out_dir,
        base_model=base_model,
        settings=settings,
        replace=replace,
        progress=progress,
        source=(source or {}) | {"hard_negatives": negatives},
    )


# The default model's recipe, recorded in its provenance. A model of another recipe is
# retrained at the next start. v2 (2026-12-03): a hard negative per pair, mined with the
# shipped model (BENCHMARKS.md, "Hard negatives").
DEFAULT_RECIPE = "default-v2"
# Each stage's share of the first build's progress bar: rough seconds on 2 cores.
_STAGE_SHARES = {"index": 70.0, "mine": 25.0, "train": 160.0}


def ensure_tuned_model(
    store: CatalogStore,
    target: Path,
    *,
    settings: TuningSettings | None = None,
    progress: ProgressCallback | None = None,
    keep: Callable[[Question], bool] | None = None,
) -> Path:
    """The default embedder: the shipped MiniLM tuned on APIBench's training data, each
    request with a mined hard negative, trained into `target` the first time it is needed
    and reused after (a few minutes on 2 cores).

    Same recipe and seed every time, so every install trains the same model; concurrent
    starts train it once (`model_dir.trained_once`).
    """

    def train() -> None:
        # A directory without provenance, or of an older recipe, is replaced.
        tune_with_negatives(
            apibench_training_pairs(store, keep=keep),
            store,
            target,
            settings=settings,
            replace=True,
            progress=progress,
            source={"apibench_splits": ["train", "dev"], "recipe": DEFAULT_RECIPE},
        )

    return trained_once(target, PROVENANCE_FILE, train, is_current=_of_default_recipe)


def _of_default_recipe(provenance: Path) -> bool:
    try:
        data = json.loads(provenance.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    training = data.get("training_data") if isinstance(data, dict) else None
    return isinstance(training, dict) and training.get("recipe") == DEFAULT_RECIPE
