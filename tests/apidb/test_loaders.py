from __future__ import annotations

import json
from collections import Counter

import pytest

from apidb import LoaderError, load_file, load_text
from apidb.bundled import APIBENCH_DIR, APIBENCH_FILES, default_catalog_docs
from apidb.loaders import apibench_identity
from tests.conftest import FIXTURES


def test_every_apibench_record_loads_with_a_unique_id() -> None:
    docs = default_catalog_docs()
    assert len(docs) == 1726
    assert Counter(d.hub for d in docs) == {
        "huggingface": 936,
        "torchhub": 94,
        "tensorflowhub": 696,
    }
    assert len({d.id for d in docs}) == len(docs)
    for doc in docs:
        assert doc.kind == "python"
        assert doc.call and doc.name and doc.domain
        assert isinstance(doc.description, str)
        assert all(isinstance(example, str) for example in doc.examples)
        assert all(isinstance(value, str) for value in doc.extra.values())


def test_apibench_records_match_their_source_lines() -> None:
    for hub, (api_file, _) in APIBENCH_FILES.items():
        lines = (APIBENCH_DIR / api_file).read_text().splitlines()
        docs = load_file(APIBENCH_DIR / api_file, "apibench")
        assert len(docs) == len(lines)
        for doc, line in zip(docs, lines, strict=True):
            record = json.loads(line)
            assert doc.hub == hub
            assert doc.name == record["api_name"].strip()
            assert doc.domain == record["domain"].strip()


@pytest.mark.parametrize(
    ("hub", "name", "call", "expected"),
    [
        (
            "torchhub",
            "slow_r50",
            "torch.hub.load(repo_or_dir='facebookresearch/pytorchvideo', model='slow_r50')",
            "torchhub/facebookresearch/pytorchvideo/slow_r50",
        ),
        (
            "torchhub",
            "MiDaS",
            "torch.hub.load('intel-isl/MiDaS', 'DPT_Large')",
            "torchhub/intel-isl/MiDaS/DPT_Large",
        ),
        (
            "tensorflowhub",
            "model_id",
            "hub.KerasLayer('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/4')",
            "tensorflowhub/google/imagenet/mobilenet_v2_100_224/feature_vector/4",
        ),
        (
            "huggingface",
            "facebook/bart-large-cnn",
            "pipeline('summarization', model='facebook/bart-large-cnn')",
            "huggingface/facebook/bart-large-cnn",
        ),
    ],
)
def test_apibench_ids_name_the_api(hub: str, name: str, call: str, expected: str) -> None:
    assert apibench_identity(hub, name, call) == expected


def test_free_form_apibench_fields_are_folded_into_text() -> None:
    record = {
        "domain": "Video Classification",
        "framework": "PyTorch",
        "functionality": ["a", "b"],
        "api_name": "slow_r50",
        "api_call": "torch.hub.load(repo_or_dir='x/y', model='slow_r50')",
        "api_arguments": {"pretrained": "True"},
        "python_environment_requirements": None,
        "example_code": {"load": ["import torch", "m = torch.hub.load('x/y', 'slow_r50')"]},
        "performance": "N/A",
        "description": "A video model.",
    }
    (doc,) = load_text(json.dumps(record), "apibench", source="torchhub_api.jsonl")
    assert doc.id == "torchhub/x/y/slow_r50"
    assert doc.extra["functionality"] == "a\nb"
    assert "performance" not in doc.extra and "requirements" not in doc.extra
    assert doc.examples == ["load: import torch\nm = torch.hub.load('x/y', 'slow_r50')"]
    assert doc.parameters == {"type": "object", "properties": {"pretrained": {}}}


def test_openai_tools_both_shapes() -> None:
    docs = load_file(FIXTURES / "weather_tools.json", "openai-tools")
    assert [d.id for d in docs] == ["functions/get_current_weather", "functions/convert_currency"]
    weather = docs[0]
    assert weather.kind == "function"
    assert weather.call == "get_current_weather(city=<string>)"
    assert weather.parameters is not None and weather.parameters["required"] == ["city"]
    wrapped = load_text(json.dumps({"tools": [{"name": "ping"}]}), "openai-tools", hub="ops")
    assert wrapped[0].id == "ops/ping" and wrapped[0].call == "ping()"


def test_openapi_operations_become_http_docs() -> None:
    docs = {d.name: d for d in load_file(FIXTURES / "todo_openapi.yaml", "openapi")}
    assert set(docs) == {"listTodos", "createTodo", "DELETE /todos/{todo_id}"}
    create = docs["createTodo"]
    assert create.id == "todo-service/createTodo"
    assert create.kind == "http" and create.hub == "todo-service"
    assert create.http is not None and create.http.method == "POST"
    assert create.http.servers == ["http://127.0.0.1:8081"]
    assert create.parameters is not None
    assert create.parameters["properties"]["body"]["properties"]["title"] == {"type": "string"}
    delete = docs["DELETE /todos/{todo_id}"]
    assert delete.parameters is not None and delete.parameters["required"] == ["todo_id"]
    assert delete.parameters["properties"]["todo_id"]["in"] == "path"


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("apibench", '{"api_name": "a", "api_call": "f()"}\n{not json', "line 2: invalid JSON"),
        ("apibench", '{"api_call": "f()", "framework": "PyTorch"}', "missing 'api_name'"),
        (
            "apibench",
            '{"api_name": "a", "api_call": "f()", "framework": "?"}',
            "cannot tell the hub",
        ),
        ("apibench", "[1, 2]", "expected a JSON object"),
        ("openai-tools", "{broken", "invalid JSON"),
        ("openai-tools", '[{"description": "no name"}]', "invalid function name"),
        ("openai-tools", '[{"name": "a"}, {"name": "a"}]', "duplicate ids: functions/a"),
        ("openai-tools", '[{"name": "a", "parameters": []}]', "parameters must be"),
        ("openai-tools", "[]", "no APIs found"),
        ("openapi", '{"openapi": "2.0", "paths": {}}', "not an OpenAPI 3 document"),
        ("openapi", '{"openapi": "3.0.0", "paths": {}}', "has no paths"),
        ("openapi", "openapi: 3.0.0\npaths: [\n", "invalid YAML"),
        (
            "openapi",
            '{"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "#/nope"}]}}}}',
            "unresolvable $ref",
        ),
        ("csv", "a,b", "unknown format"),
    ],
)
def test_malformed_input_names_the_problem(fmt: str, text: str, message: str) -> None:
    with pytest.raises(LoaderError, match=message.replace("$", r"\$").replace("(", r"\(")):
        load_text(text, fmt, source="input")


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LoaderError, match="cannot read"):
        load_file(tmp_path / "missing.json", "openai-tools")
