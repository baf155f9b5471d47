"""The llamacpp arm's early stop: once the grammar leaves one output, it is written out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.arms.llamacpp import LlamaCppArm
from agent.prompting import grammar_alternatives
from apidb.bundled import apibench_docs
from apidb.loaders import load_file
from tests.conftest import FIXTURES


class FakeStream:
    """Streams fixed pieces like llama-cpp-python does, and records how many were read."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.read = 0
        self.closed = False

    def create_completion(self, prompt: str, **options: Any) -> Iterator[dict[str, Any]]:
        def gen() -> Iterator[dict[str, Any]]:
            try:
                for piece in self.pieces:
                    self.read += 1
                    yield {"choices": [{"text": piece, "finish_reason": None}]}
                yield {"choices": [{"text": "", "finish_reason": "stop"}]}
            finally:
                self.closed = True

        return gen()


def test_a_unique_fixed_call_is_written_out_after_its_label() -> None:
    docs = apibench_docs("torchhub")[:3]
    fixed, open_names = grammar_alternatives(docs)
    llama = FakeStream([" [", "2", "]", " torch", ".hub"])
    text, tokens, forced = LlamaCppArm._decode(llama, "p", {}, fixed, open_names)
    assert text == fixed[1] and forced
    assert tokens == 2 and llama.read == 2 and llama.closed  # "[2" already decides


def test_calls_with_free_arguments_are_decoded_to_the_end() -> None:
    tools = load_file(FIXTURES / "weather_tools.json", "openai-tools")
    docs = [apibench_docs("torchhub")[0], *tools]
    fixed, open_names = grammar_alternatives(docs)
    pieces = [" [", "2", "]", " get_current_weather(", "city='Oslo'", ")"]
    text, tokens, forced = LlamaCppArm._decode(FakeStream(pieces), "p", {}, fixed, open_names)
    assert text.strip() == "[2] get_current_weather(city='Oslo')"
    assert tokens == 6 and not forced
