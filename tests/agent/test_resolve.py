from __future__ import annotations

import pytest

from agent.apicall import parse_calls
from agent.resolve import UNRESOLVED, CallResolver, identity
from apidb import APIDoc
from apidb.bundled import default_catalog_docs
from apidb.loaders import load_file
from retriever.text import call_key
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def catalog() -> list[APIDoc]:
    return default_catalog_docs()


@pytest.fixture(scope="module")
def resolver(catalog: list[APIDoc]) -> CallResolver:
    tools = load_file(FIXTURES / "weather_tools.json", "openai-tools")
    todo = load_file(FIXTURES / "todo_openapi.yaml", "openapi")
    return CallResolver([*catalog, *tools, *todo])


def test_every_parsable_apibench_call_resolves_to_its_own_api(
    catalog: list[APIDoc], resolver: CallResolver
) -> None:
    by_id = {d.id: d for d in catalog}
    resolved = same = 0
    for doc in catalog:
        try:
            call = resolver.resolve_text(doc.call)
        except Exception:  # noqa: BLE001 - counted below: APIBench has a few shell commands
            continue
        resolved += call.resolved
        same += call.resolved and call_key(by_id[call.api_id]) == call_key(doc)  # type: ignore[index]
    # 16 APIBench entries are shell commands or malformed Python; the rest must resolve, and
    # only Sequential([KerasLayer(h)]) wrappers may land on the bare KerasLayer(h) entry.
    assert resolved >= 1_705
    assert same >= 1_695


@pytest.mark.parametrize(
    ("code", "api_id"),
    [
        (
            "pipeline('summarization', model='facebook/bart-large-cnn')",
            "huggingface/facebook/bart-large-cnn",
        ),
        (
            'pipeline(task="summarization", model="facebook/bart-large-cnn")',
            "huggingface/facebook/bart-large-cnn",
        ),
        ("torch.hub.load('pytorch/vision', 'resnet50', pretrained=True)", None),
        (
            "torch.hub.load(repo_or_dir='NVIDIA/DeepLearningExamples:torchhub', model='nvidia_ssd')",
            None,
        ),
        (
            "import tensorflow_hub as hub\nm = hub.load('https://tfhub.dev/google/universal-sentence-encoder/4/')",
            None,
        ),
    ],
)
def test_calls_are_identified_by_their_identifying_arguments(
    resolver: CallResolver, code: str, api_id: str | None
) -> None:
    call = resolver.resolve_text(code)
    assert call.resolved, call.problems
    if api_id:
        assert call.api_id == api_id


def test_identity_ignores_extra_arguments_and_quote_style() -> None:
    a = parse_calls("torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50')")[0]
    b = parse_calls('torch.hub.load("pytorch/vision", "resnet50", pretrained=True)')[0]
    assert identity(a) == identity(b) == "torchhub:pytorch/vision|resnet50"
    task_only = parse_calls("pipeline('summarization')")[0]
    assert identity(task_only) is None


def test_a_model_that_does_not_exist_is_a_hallucination(resolver: CallResolver) -> None:
    call = resolver.resolve_text(
        "pipeline('summarization', model='acme/imaginary-summarizer-9000')"
    )
    assert not call.resolved
    assert call.problems == (UNRESOLVED,)
    assert not resolver.resolve_text("launch_rockets(count=3)").resolved


def test_function_arguments_are_checked_against_the_schema(resolver: CallResolver) -> None:
    ok = resolver.resolve_text("get_current_weather(city='Paris', unit='celsius')")
    assert ok.api_id == "functions/get_current_weather" and ok.valid
    positional = resolver.resolve_text("get_current_weather('Paris')")
    assert positional.valid
    cases = {
        "get_current_weather()": "missing required argument 'city'",
        "get_current_weather(city='Paris', when='now')": "unknown argument 'when'",
        "get_current_weather(city=3)": "'city' must be string",
        "get_current_weather(city='Paris', unit='kelvin')": "must be one of",
        "convert_currency(amount=True, from_currency='EUR', to_currency='USD')": "'amount' must be number",
        "get_current_weather(city=input())": "not a literal",
        "get_current_weather('Paris', city='Lyon')": "given twice",
    }
    for code, problem in cases.items():
        call = resolver.resolve_text(code)
        assert call.resolved and not call.valid, code
        assert any(problem in p for p in call.problems), (code, call.problems)


def test_http_operations_resolve_by_operation_id(resolver: CallResolver) -> None:
    call = resolver.resolve_text("createTodo(body={'title': 'buy milk'})")
    assert call.api_id == "todo-service/createTodo" and call.valid
    assert not resolver.resolve_text("createTodo(body='buy milk')").valid


def test_preferred_docs_break_ties_between_duplicates(catalog: list[APIDoc]) -> None:
    twins = [d for d in catalog if d.call == "joblib.load('model.joblib')"]
    assert len(twins) > 2
    resolver = CallResolver(catalog)
    preferred = [twins[2].id]
    assert resolver.resolve_text("joblib.load('model.joblib')", preferred).api_id == twins[2].id
    assert resolver.resolve_text("joblib.load('model.joblib')").api_id == twins[0].id
