"""The llamacpp arm with the real Gemma 3 270M GGUF (loaded once for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.arms.base import GenerationRequest, Price
from agent.arms.llamacpp import LlamaCppArm
from agent.errors import ArmUnavailableError
from agent.models import default_gguf
from agent.resolve import CallResolver
from apidb import APIDoc
from apidb.bundled import apibench_docs
from apidb.loaders import load_file
from retriever import Hit, HybridRetriever
from retriever.benchmark import load_questions
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_gguf(tmp_path_factory.mktemp("models-data"))


@pytest.fixture(scope="module")
def arm(gguf: Path) -> Iterator[LlamaCppArm]:
    arm = LlamaCppArm("llamacpp", gguf, price=Price(per_hour=0.1))
    arm.warm_up()
    yield arm
    arm.close()


def hits_for(docs: list[APIDoc]) -> list[Hit]:
    return [Hit(doc, 1.0 - i / 10) for i, doc in enumerate(docs)]


def test_constrained_output_is_always_a_call_to_a_retrieved_api(arm: LlamaCppArm) -> None:
    catalog = {
        d.id: d for hub in ("torchhub", "tensorflowhub", "huggingface") for d in apibench_docs(hub)
    }
    docs = list(catalog.values())
    resolver = CallResolver(docs)
    for hub in ("torchhub", "tensorflowhub", "huggingface"):
        for question in load_questions(hub)[:2]:
            # Four unrelated APIs: the grammar must still confine the model to them.
            offered = docs[question.question_id * 7 % 1500 :][:4]
            gen = arm.generate(GenerationRequest(question.text, hits_for(offered)))
            call = resolver.resolve_text(gen.text, [d.id for d in offered])
            assert call.api_id in {d.id for d in offered}, gen.text
            assert gen.meta["constrained"] is True and gen.tokens_in > 200
            assert gen.cost > 0 and gen.latency_s > 0


def test_function_calls_get_typed_arguments_from_the_grammar(arm: LlamaCppArm) -> None:
    tools = load_file(FIXTURES / "weather_tools.json", "openai-tools")
    todo = load_file(FIXTURES / "todo_openapi.yaml", "openapi")
    resolver = CallResolver([*tools, *todo])
    for query, offered in [
        ("What's the weather like in Paris today?", tools),
        ("Add 'buy milk' to my todo list", todo),
    ]:
        gen = arm.generate(GenerationRequest(query, hits_for(offered)))
        call = resolver.resolve_text(gen.text)
        assert call.resolved, gen.text
        assert call.valid, (gen.text, call.problems)


def test_unconstrained_mode_writes_freely(gguf: Path) -> None:
    free = LlamaCppArm("free", gguf, constrained=False, max_tokens=24, temperature=0.8, seed=3)
    try:
        docs = apibench_docs("torchhub")[:3]
        gen = free.generate(GenerationRequest("classify images of dogs", hits_for(docs)))
        assert gen.meta["constrained"] is False
        assert 0 < gen.tokens_out <= 24
    finally:
        free.close()


def test_a_model_file_that_is_not_a_gguf_is_an_unavailable_arm(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ArmUnavailableError, match="cannot load"):
        LlamaCppArm("bad", bogus).warm_up()


# --------------------------------------------------- right calls with the real model


def test_gemma_fills_the_chosen_function_from_the_request(
    arm: LlamaCppArm, retriever: HybridRetriever, small_data: Path, embedder: Any
) -> None:
    from agent.calls.select import ToolChoice
    from agent.pipeline import Pipeline, TaskRequest
    from agent.pool import PoolConfig
    from agent.settings import Settings
    from agent.toolset import ToolsetCache
    from retriever.config import RetrieverConfig
    from tests.agent.test_right_calls import COUNTRY_TOOLS, tool

    weather = tool("get_weather", "Current weather for a city", city="string")
    config = PoolConfig.model_validate({"arms": {"template": {"type": "template"}}})
    toolsets = ToolsetCache(embedder, RetrieverConfig())
    settings = Settings(data_dir=small_data)
    with Pipeline.open(
        settings, retriever=retriever, pool_config=config, extra_arms={"gemma": arm}
    ) as pipeline:
        countries = toolsets.get(COUNTRY_TOOLS)

        def ask(query: str, **options: Any) -> Any:
            return pipeline.run(TaskRequest(query, arm="gemma", **options))

        capital = ask("What is the capital of Brazil?", toolset=countries)
        assert capital.call == "country_info_capital(country='Brazil')"
        assert capital.generation is not None and capital.generation.meta["fill"] is True
        two = ask("What is the weather in Paris and in Rome?", toolset=toolsets.get([weather]))
        assert [c.arguments["city"] for c in two.calls] == ["Paris", "Rome"]
        declined = ask("Play some jazz in the kitchen", toolset=countries)
        assert declined.execution.status == "no_match" and declined.generation is None
        named = ask(
            "What is the capital of Brazil?",
            toolset=countries,
            tool_choice=ToolChoice("function", "country_info_largest_city"),
        )
        assert named.call == "country_info_largest_city(country='Brazil')"
    toolsets.close()
