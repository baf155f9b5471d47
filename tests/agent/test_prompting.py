"""Prompts and call grammars built from retrieved docs (grammars compiled by llama.cpp)."""

from __future__ import annotations

import pytest
from llama_cpp.llama_grammar import LlamaGrammar

from agent.errors import CallParseError
from agent.prompting import FEW_SHOT, PROMPT_DOCS, build_messages, build_prompt, call_grammar
from apidb import APIDoc
from apidb.bundled import apibench_docs
from apidb.loaders import load_file
from retriever import Hit
from tests.conftest import FIXTURES

TOOLS = load_file(FIXTURES / "weather_tools.json", "openai-tools")
TODO = load_file(FIXTURES / "todo_openapi.yaml", "openapi")


def hits(docs: list[APIDoc]) -> list[Hit]:
    return [Hit(d, 1.0) for d in docs]


def test_the_prompt_is_few_shot_then_the_retrieved_apis_then_the_request() -> None:
    docs = apibench_docs("torchhub")[:6]
    prompt = build_prompt("detect  objects\nin photos", hits(docs))
    assert prompt.startswith(FEW_SHOT)  # a constant prefix llama.cpp can reuse from cache
    assert prompt.endswith("Request: detect objects in photos\nCall:")
    for doc in docs[:PROMPT_DOCS]:
        assert doc.call in prompt
    assert docs[PROMPT_DOCS].call not in prompt
    chat = build_messages("detect objects", hits(docs), proposals=["x()"])
    assert chat[0]["role"] == "system" and "- x()" in chat[1]["content"]


def test_grammars_compile_in_llama_cpp_for_every_kind_of_doc() -> None:
    docs = [*apibench_docs("huggingface")[:2], *apibench_docs("tensorflowhub")[:2], *TOOLS, *TODO]
    grammar = call_grammar(docs)
    LlamaGrammar.from_string(grammar, verbose=False)  # raises if llama.cpp rejects it
    assert (
        '"get_current_weather(" "city=" str (", " "unit=" ("\'celsius\'" | "\'fahrenheit\'"))?'
        in grammar
    )
    assert '"delete_todos_todo_id(" "todo_id=" int' in grammar or "deleteTodo(" in grammar


def test_grammar_strings_escape_quotes_and_backslashes() -> None:
    doc = apibench_docs("torchhub")[0].model_copy(update={"call": 'load("a\\\\b", x="q")'})
    grammar = call_grammar([doc])
    assert 'root ::= "[1] " "load(\\"a\\\\\\\\b\\", x=\\"q\\")"' in grammar
    LlamaGrammar.from_string(grammar, verbose=False)


def test_no_callable_doc_means_no_grammar() -> None:
    shell = apibench_docs("huggingface")[0].model_copy(update={"call": "./run.sh --x 1"})
    with pytest.raises(CallParseError):
        call_grammar([shell])
