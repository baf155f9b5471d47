"""Fine-tuning the embedder (`retriever.tuning`) with the real MiniLM, on a few pairs."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from apidb import CatalogStore
from apidb.bundled import apibench_docs
from retriever import TuningError
from retriever.benchmark import Question, load_questions
from retriever.embedder import SentenceTransformerEmbedder, default_model_path, model_fingerprint
from retriever.prior import PRIOR_FILE
from retriever.text import doc_views
from retriever.tuning import (
    DEFAULT_RECIPE,
    PROVENANCE_FILE,
    TrainingPair,
    TuningSettings,
    apibench_training_pairs,
    ensure_tuned_model,
    is_contaminated,
    load_training_pairs,
    pairs_from_ids,
    trained_on_splits,
    tune_embedder,
)

# Requests phrased unlike their docs, so that the base model ranks them poorly.
_REQUESTS = {
    "torchhub/pytorch/vision/resnet50": "which breed is the dog in my photo",
    "torchhub/pytorch/vision/deeplabv3_resnet101": (
        "paint every pixel of a street scene with what it shows"
    ),
    "torchhub/ultralytics/yolov5/yolov5s": "draw boxes around the cars in a traffic camera frame",
    "torchhub/snakers4/silero-models/silero_tts": "read my bedtime story aloud",
}
_QUICK = TuningSettings(epochs=4, learning_rate=1e-4, batch_size=4)


@pytest.fixture
def pairs(store: CatalogStore) -> list[TrainingPair]:
    docs = {doc.id: doc for doc in store.list_docs(hub="torchhub")}
    return [TrainingPair(request, docs[doc_id]) for doc_id, request in _REQUESTS.items()]


def _margin(embedder: SentenceTransformerEmbedder, pairs: list[TrainingPair]) -> float:
    """Mean, over pairs, of cos(request, its doc) minus the best cos to another pair's doc."""
    queries = embedder.encode([pair.query for pair in pairs])
    docs = embedder.encode([doc_views(pair.doc)[0] for pair in pairs])
    similarity = queries @ docs.T
    others = np.where(np.eye(len(pairs), dtype=bool), -np.inf, similarity).max(axis=1)
    return float(np.mean(np.diag(similarity) - others))


def test_a_tuned_model_ranks_its_pairs_higher_and_records_how_it_was_made(
    pairs: list[TrainingPair], embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "tuned"
    ticks: list[tuple[int, int]] = []

    result = tune_embedder(
        pairs, out, settings=_QUICK, progress=lambda done, total: ticks.append((done, total))
    )

    assert result.path == out.resolve() and result.pairs == len(pairs)
    assert ticks[-1] == (4, 4)  # 4 epochs of one batch
    tuned = SentenceTransformerEmbedder(out)
    assert _margin(tuned, pairs) > _margin(embedder, pairs) + 0.05
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["pairs"] == len(pairs)
    assert provenance["settings"]["epochs"] == 4
    assert provenance["base_fingerprint"] == model_fingerprint(default_model_path())
    assert tuned.fingerprint != embedder.fingerprint
    assert sorted(p.name for p in out.parent.iterdir()) == ["tuned"]  # no scratch left


def test_a_mined_negative_is_pushed_away_from_its_request(
    pairs: list[TrainingPair],
    store: CatalogStore,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
) -> None:
    # Each request's negative: the API the shipped model ranks best for it among those no
    # pair is about, so that only the negative column can push it away.
    taken = {pair.doc.id for pair in pairs}
    others = [doc for doc in store.list_docs(hub="torchhub") if doc.id not in taken]
    other_vectors = embedder.encode([doc_views(doc)[0] for doc in others])
    nearest = np.argmax(embedder.encode([p.query for p in pairs]) @ other_vectors.T, axis=1)
    with_negatives = [
        replace(pair, negative=others[int(i)]) for pair, i in zip(pairs, nearest, strict=True)
    ]

    def gap(model_dir: Path) -> float:
        model = SentenceTransformerEmbedder(model_dir)
        queries = model.encode([p.query for p in with_negatives])
        gold = model.encode([doc_views(p.doc)[0] for p in with_negatives])
        wrong = model.encode([doc_views(p.negative)[0] for p in with_negatives if p.negative])
        return float(np.mean(np.sum(queries * gold, axis=1) - np.sum(queries * wrong, axis=1)))

    mined = tune_embedder(with_negatives, tmp_path / "mined", settings=_QUICK)
    plain = tune_embedder(pairs, tmp_path / "plain", settings=_QUICK)
    assert gap(mined.path) > gap(plain.path) + 0.1
    digests = {
        json.loads((result.path / PROVENANCE_FILE).read_text())["pairs_sha256"]
        for result in (mined, plain)
    }
    assert len(digests) == 2  # the provenance says which pairs had negatives


def test_an_existing_output_is_kept_unless_replacing_is_asked_for(
    pairs: list[TrainingPair], tmp_path: Path
) -> None:
    out = tmp_path / "models" / "tuned"
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(TuningError, match="already exists; pass --force"):
        tune_embedder(pairs, out, settings=_QUICK)
    assert (out / "mine.txt").read_text() == "keep me"

    tune_embedder(pairs, out, settings=TuningSettings(epochs=1, batch_size=4), replace=True)
    assert not (out / "mine.txt").exists() and (out / PROVENANCE_FILE).is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["tuned"]  # nor the old one


def test_an_output_that_appears_during_training_is_not_overwritten(
    pairs: list[TrainingPair], tmp_path: Path
) -> None:
    out = tmp_path / "models" / "tuned"

    def someone_else_writes_it(done: int, total: int) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "theirs.txt").write_text("theirs")

    with pytest.raises(TuningError, match="already exists"):
        tune_embedder(
            pairs, out, settings=TuningSettings(batch_size=4), progress=someone_else_writes_it
        )
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["tuned"]  # no scratch left


def test_a_failed_training_run_is_a_clear_error_and_writes_nothing(
    pairs: list[TrainingPair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args: object) -> float:
        raise RuntimeError("DefaultCPUAllocator: not enough memory")

    monkeypatch.setattr("retriever.tuning._train", out_of_memory)
    with pytest.raises(TuningError, match="training failed: DefaultCPUAllocator"):
        tune_embedder(pairs, tmp_path / "models" / "tuned")
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_pairs_are_refused_before_loading_the_model(
    pairs: list[TrainingPair], tmp_path: Path, count: int
) -> None:
    with pytest.raises(TuningError, match=f"{count} training pair\\(s\\).*at least 2"):
        tune_embedder(pairs[:count], tmp_path / "tuned", base_model=tmp_path / "no-model")
    assert not (tmp_path / "tuned").exists()


def test_the_base_model_is_never_the_output(pairs: list[TrainingPair], tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(default_model_path(), base)
    with pytest.raises(TuningError, match="would overwrite the base model"):
        tune_embedder(pairs, base, base_model=base, replace=True)


def test_a_retrained_model_gets_a_new_fingerprint(tmp_path: Path) -> None:
    """Same files, same sizes, other weights: the provenance file tells them apart."""
    first, second = tmp_path / "a", tmp_path / "b"
    for directory, weights in ((first, "1" * 64), (second, "2" * 64)):
        directory.mkdir()
        (directory / "config.json").write_text("{}")
        (directory / PROVENANCE_FILE).write_text(json.dumps({"weights_sha256": weights}))
    assert model_fingerprint(first) != model_fingerprint(second)


def test_the_default_pairs_are_train_and_dev_never_held_out(store: CatalogStore) -> None:
    """On the test catalog (torchhub and part of huggingface) only the questions about its
    APIs pair up: its hubs' dev questions are among them, no held-out question ever is."""
    pairs = apibench_training_pairs(store)
    queries = {pair.query for pair in pairs}
    train = {question.text for question in load_questions("torchhub", "train")}
    assert len(queries & train) > 800  # of 837
    for hub in ("torchhub", "huggingface", "tensorflowhub"):
        held_out = {question.text for question in load_questions(hub, "heldout")}
        dev = {question.text for question in load_questions(hub, "dev")}
        assert not (held_out - dev) & queries  # a held-out question never trains
        assert bool(dev & queries) == (hub != "tensorflowhub"), hub  # not in the test catalog


def test_a_pair_takes_the_copy_of_its_api_filed_under_the_questions_domain(
    tmp_path: Path,
) -> None:
    """APIBench files some calls twice (a tabular model under classification and under
    regression); the pair, and the task-type prior trained on it, follow the question."""
    with CatalogStore(tmp_path / "catalog.db") as catalog:
        catalog.upsert_many(apibench_docs("torchhub") + apibench_docs("tensorflowhub"))
        pairs = apibench_training_pairs(catalog)
    domains = {
        q.text: q.gold_domain
        for hub in ("torchhub", "tensorflowhub")
        for split in ("train", "dev")
        for q in load_questions(hub, split)
    }
    tf_dev = {q.text for q in load_questions("tensorflowhub", "dev")}
    refiled = [p for p in pairs if p.query in tf_dev and p.doc.domain == "Text preprocessing"]
    assert len(refiled) >= 5  # filed under "Text embedding" too, which sorts first by id
    assert all(pair.doc.domain == domains[pair.query] for pair in pairs)


def test_the_default_pairs_need_the_torchhub_apis(tmp_path: Path) -> None:
    with (
        CatalogStore(tmp_path / "empty.db") as empty,
        pytest.raises(TuningError, match="too few of the APIBench APIs"),
    ):
        apibench_training_pairs(empty)


def test_a_pairs_file_is_read_line_by_line(store: CatalogStore, tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"query": "classify an image", "api_id": _any_id(store)})
        + "\n\n"
        + json.dumps({"query": "  detect objects  ", "api_id": _any_id(store, 1)})
        + "\n"
    )
    pairs = load_training_pairs(path, store)
    assert [pair.query for pair in pairs] == ["classify an image", "detect objects"]
    assert [pair.doc.id for pair in pairs] == [_any_id(store), _any_id(store, 1)]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], r"line 1: not JSON"),
        (['["a", "b"]'], r"line 1: expected an object"),
        (['{"api_id": "x"}'], r'line 1: "query" must be a non-empty string'),
        (['{"query": "   ", "api_id": "x"}'], r'"query" must be a non-empty string'),
        (['{"query": "q"}'], r'line 1: "api_id" must be a non-empty string'),
        ([json.dumps({"query": "q" * 10_001, "api_id": "x"})], r"over 10,000 characters"),
        (
            ['{"query": "a", "api_id": "VALID"}', '{"query": "b", "api_id": "nope/1"}'],
            r"not in the catalog: 'nope/1' \(line 2\)",
        ),
    ],
)
def test_a_bad_pairs_file_is_refused_naming_the_problem(
    store: CatalogStore, tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(line.replace("VALID", _any_id(store)) for line in lines))
    with pytest.raises(TuningError, match=message):
        load_training_pairs(path, store)


def test_a_missing_pairs_file_is_a_clear_error(store: CatalogStore, tmp_path: Path) -> None:
    with pytest.raises(TuningError, match="cannot read the pairs file"):
        load_training_pairs(tmp_path / "absent.jsonl", store)


def _any_id(store: CatalogStore, index: int = 0) -> str:
    return store.list_docs(hub="torchhub")[index].id


def test_a_model_says_which_splits_it_was_trained_on(tmp_path: Path) -> None:
    assert trained_on_splits(None) == set()  # the shipped model
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    provenance = tuned / PROVENANCE_FILE
    provenance.write_text(json.dumps({"training_data": {"apibench_splits": ["train", "dev"]}}))
    trained = trained_on_splits(tuned)
    assert trained == {"train", "dev"}
    assert [is_contaminated(s, trained) for s in ("heldout", "dev", "all", "train")] == [
        False,
        True,
        True,
        True,
    ]
    provenance.write_text(json.dumps({"training_data": {"pairs_file": "mine.jsonl"}}))
    assert is_contaminated("heldout", trained_on_splits(tuned)) is None  # nobody knows
    assert is_contaminated("dev", set()) is False


def test_pairs_from_ids_skip_apis_no_longer_in_the_catalog(store: CatalogStore) -> None:
    pairs = pairs_from_ids(
        store,
        [
            ("which breed is this dog", "torchhub/pytorch/vision/resnet50"),
            ("a removed one", "torchhub/no-longer-here"),
            ("   ", "torchhub/pytorch/vision/resnet50"),
        ],
    )
    assert [(pair.query, pair.doc.id) for pair in pairs] == [
        ("which breed is this dog", "torchhub/pytorch/vision/resnet50")
    ]


def test_a_tuned_model_carries_a_task_type_prior_over_its_pairs_domains(
    pairs: list[TrainingPair], tmp_path: Path
) -> None:
    out = tmp_path / "tuned"
    tune_embedder(pairs, out, settings=_QUICK)

    tuned = SentenceTransformerEmbedder(out)

    assert (out / PRIOR_FILE).is_file()
    assert tuned.domain_prior is not None
    assert set(tuned.domain_prior.classes) == {pair.doc.domain for pair in pairs}
    # The request it was trained on is classified as its own API's kind.
    request = pairs[1]
    probabilities = tuned.domain_prior.probabilities(tuned.encode([request.query])[0])
    assert max(probabilities, key=lambda d: probabilities[d]) == request.doc.domain


def _slice(question: Question) -> bool:
    """A few dozen torchhub questions: the default recipe on a small slice."""
    return question.hub == "torchhub" and question.question_id <= 40


def test_the_default_model_is_trained_once_even_by_concurrent_starts(
    store: CatalogStore, tmp_path: Path
) -> None:
    target = tmp_path / "models" / "minilm-apibench"
    quick = TuningSettings(batch_size=16)
    ticks: dict[int, list[int]] = {0: [], 1: []}

    def start(n: int) -> Path:
        return ensure_tuned_model(
            store,
            target,
            settings=quick,
            keep=_slice,
            progress=lambda done, _total: ticks[n].append(done),
        )

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(start, [0, 1]))

    assert paths == [target, target]
    assert sorted(bool(t) for t in ticks.values()) == [False, True]  # one trained
    provenance = json.loads((target / PROVENANCE_FILE).read_text())
    assert provenance["training_data"]["recipe"] == DEFAULT_RECIPE
    assert provenance["training_data"]["hard_negatives"] is True
    assert trained_on_splits(target) == {"train", "dev"}
    again: list[int] = []
    ensure_tuned_model(store, target, keep=_slice, progress=lambda d, _t: again.append(d))
    assert not again  # reused, not retrained


def test_a_leftover_directory_without_provenance_is_replaced(
    store: CatalogStore, tmp_path: Path
) -> None:
    target = tmp_path / "minilm-apibench"
    target.mkdir()
    (target / "half-written.bin").write_bytes(b"\0")

    ensure_tuned_model(store, target, settings=TuningSettings(batch_size=16), keep=_slice)

    assert (target / PROVENANCE_FILE).is_file() and not (target / "half-written.bin").exists()


def test_a_default_model_of_an_older_recipe_is_retrained_once(
    store: CatalogStore, tmp_path: Path
) -> None:
    target = tmp_path / "minilm-apibench"
    quick = TuningSettings(batch_size=16)
    ensure_tuned_model(store, target, settings=quick, keep=_slice)
    provenance = json.loads((target / PROVENANCE_FILE).read_text())
    provenance["training_data"]["recipe"] = "default"  # what the first release wrote
    (target / PROVENANCE_FILE).write_text(json.dumps(provenance))

    ticks: list[tuple[int, int]] = []
    ensure_tuned_model(
        store, target, settings=quick, keep=_slice, progress=lambda d, t: ticks.append((d, t))
    )

    assert json.loads((target / PROVENANCE_FILE).read_text())["training_data"]["recipe"] == (
        DEFAULT_RECIPE
    )
    # One bar over indexing, mining and training: it only rises, and ends full.
    done = [d for d, _ in ticks]
    assert done == sorted(done) and ticks[-1] == (1000, 1000) and len(set(done)) > 3
    again: list[int] = []
    ensure_tuned_model(store, target, keep=_slice, progress=lambda d, _t: again.append(d))
    assert not again
