from __future__ import annotations

import pytest

from agent.apicall import MAX_CALL_CHARS, Expression, extract_code, parse_calls
from agent.errors import CallParseError


def test_parses_function_path_and_literal_arguments() -> None:
    (call,) = parse_calls("pipeline('summarization', model='facebook/bart-large-cnn', top_k=3)")
    assert call.function == "pipeline"
    assert call.args == ("summarization",)
    assert call.kwargs == {"model": "facebook/bart-large-cnn", "top_k": 3}
    assert call.code == "pipeline('summarization', model='facebook/bart-large-cnn', top_k=3)"
    assert call.api_id is None


def test_import_aliases_give_the_qualified_path() -> None:
    code = "import tensorflow_hub as hub\nlayer = hub.KerasLayer('https://tfhub.dev/x/1')"
    (call,) = parse_calls(code)
    assert call.function == "hub.KerasLayer"
    assert call.qualified == "tensorflow_hub.KerasLayer"
    code = "from transformers import AutoModel as M\nM.from_pretrained('bert-base-uncased')"
    (call,) = parse_calls(code)
    assert call.qualified == "transformers.AutoModel.from_pretrained"
    assert call.owner == "AutoModel" and call.name == "from_pretrained"


def test_non_literal_arguments_are_kept_as_source_never_evaluated() -> None:
    call = parse_calls("f(x, n=__import__('os').system('echo pwned'))")[0]
    assert call.function == "f"
    assert call.args == (Expression("x"),)
    assert call.kwargs["n"] == Expression("__import__('os').system('echo pwned')")
    assert call.to_json()["kwargs"]["n"] == {"expr": "__import__('os').system('echo pwned')"}


def test_every_call_in_source_order_including_nested_ones() -> None:
    calls = parse_calls("tf.keras.Sequential([hub.KerasLayer('https://tfhub.dev/a/1')])\nprint(1)")
    assert [c.function for c in calls] == ["tf.keras.Sequential", "hub.KerasLayer", "print"]


def test_code_block_in_chatty_output_is_extracted() -> None:
    text = (
        "Sure! Here you go:\n```python\ntorch.hub.load('pytorch/vision', 'resnet18')\n```\nEnjoy."
    )
    assert extract_code(text) == "torch.hub.load('pytorch/vision', 'resnet18')"
    assert parse_calls(text)[0].function == "torch.hub.load"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no code"),
        ("   ", "no code"),
        ("I cannot help with that", "not a Python call"),
        ("x = 1", "no function call"),
        ("pipeline('a', model=", "not a Python call"),
        ("f('\x00')", "not a Python call"),
        ("x" * (MAX_CALL_CHARS + 1), "characters"),
    ],
)
def test_text_that_is_not_a_call_raises(text: str, message: str) -> None:
    with pytest.raises(CallParseError, match=message):
        parse_calls(text)
