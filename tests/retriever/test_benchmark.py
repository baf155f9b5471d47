from __future__ import annotations

import pytest

from apidb import APIDoc
from retriever import HybridRetriever
from retriever.benchmark import GoldIndex, Question, evaluate, instruction_text, load_questions


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("###Instruction: Find a model.\n###Output: <<<api_call>>>: f()", "Find a model."),
        ("### Instruction: Find a model.\n### Output: x", "Find a model."),
        ("###Instruction: No answer follows.", "No answer follows."),
        ("{'Instruction': Estimate depth., 'Output': {'api_call': 'x'}}", "Estimate depth."),
    ],
)
def test_instruction_text_never_includes_the_answer(code: str, expected: str) -> None:
    assert instruction_text(code) == expected


def test_every_eval_question_loads_without_its_answer() -> None:
    counts = {}
    for hub in ("huggingface", "torchhub", "tensorflowhub"):
        questions = load_questions(hub)
        counts[hub] = len(questions)
        for question in questions:
            assert question.text
            assert "<<<" not in question.text and "Output" not in question.text
            assert question.text not in question.gold_call
    assert counts == {"huggingface": 911, "torchhub": 186, "tensorflowhub": 688}
    assert sum(counts.values()) == 1785


def test_splits_partition_the_questions() -> None:
    dev = {q.question_id for q in load_questions("torchhub", "dev")}
    heldout = {q.question_id for q in load_questions("torchhub", "heldout")}
    assert dev and heldout and not dev & heldout
    assert len(dev | heldout) == 186
    assert all(qid % 5 == 0 for qid in dev)
    assert len(load_questions("torchhub", "train")) == 837
    assert load_questions("huggingface", "train") == []


def make(doc_id: str, name: str, call: str, hub: str = "huggingface") -> APIDoc:
    return APIDoc(id=doc_id, hub=hub, kind="python", name=name, call=call)


def question(call: str, name: str) -> Question:
    return Question(1, "huggingface", "q", call, name, "d")


def test_gold_matches_on_call_and_falls_back_to_name() -> None:
    gold = GoldIndex(
        [
            make("a", "org/model", "pipeline('summarization', model='org/model')"),
            make("b", "org/model", "AutoModel.from_pretrained('org/model')"),
            make("c", "org/other", "AutoModel.from_pretrained('org/other')"),
        ]
    )
    # Call text decides, whitespace and quote style ignored.
    assert gold.gold_ids(
        question('pipeline("summarization",  model="org/model")', "org/model")
    ) == {"a"}
    # A gold call that no catalog entry has: the name decides.
    assert gold.gold_ids(question("Unknown.load('org/model')", "org/model")) == {"a", "b"}
    assert gold.gold_ids(question("Unknown.load('x')", "nobody")) == set()


def test_precomputed_query_vectors_give_the_same_figures(retriever: HybridRetriever) -> None:
    questions = load_questions("torchhub", "dev")[:12]
    vectors = retriever.embedder.encode([q.text for q in questions])
    embedded = evaluate(retriever, questions, "hybrid")
    given = evaluate(retriever, questions, "hybrid", vectors=vectors)
    for key in ("recall@1", "recall@5", "recall@10", "mrr", "domain@1"):
        assert given[key] == embedded[key], key
    assert embedded["recall@10"] > 0  # the questions do find their APIs
    with pytest.raises(ValueError, match="11 vectors for 12 questions"):
        evaluate(retriever, questions, "hybrid", vectors=vectors[:11])
