"""Right calls through the pipeline: a client's own tools, the real embedder, the template
arm's extractor and fake LLM arms; select, decline, fill, verify, learn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.arms.base import Price
from agent.calls.select import ToolChoice
from agent.errors import ConfigError
from agent.pipeline import Pipeline, TaskRequest
from agent.pool import PoolConfig
from agent.routing import ArmCosts
from agent.settings import Settings
from agent.toolset import Toolset, ToolsetCache
from retriever import HybridRetriever
from retriever.embedder import SentenceTransformerEmbedder
from tests.fakes import FakeArm


def tool(name: str, description: str, **properties: str) -> dict[str, object]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {arg: {"type": kind} for arg, kind in properties.items()},
                "required": list(properties),
            },
        },
    }


COUNTRY_TOOLS = [
    tool("country_info_population", "Get the population of a country", country="string"),
    tool("country_info_capital", "Get the capital city of a country", country="string"),
    tool("country_info_largest_city", "Get the largest city of a country", country="string"),
]


@pytest.fixture
def arms() -> dict[str, FakeArm]:
    return {"cheap": FakeArm("cheap"), "strong": FakeArm("strong")}


@pytest.fixture
def pipeline(
    retriever: HybridRetriever, small_data: Path, arms: dict[str, FakeArm]
) -> Iterator[Pipeline]:
    settings = Settings(data_dir=small_data)
    config = PoolConfig.model_validate({"arms": {"template": {"type": "template"}}})
    with Pipeline.open(settings, retriever=retriever, pool_config=config, extra_arms=arms) as p:
        yield p


@pytest.fixture(scope="module")
def toolsets(embedder: SentenceTransformerEmbedder) -> Iterator[ToolsetCache]:
    from retriever.config import RetrieverConfig

    cache = ToolsetCache(embedder, RetrieverConfig())
    yield cache
    cache.close()


@pytest.fixture
def countries(toolsets: ToolsetCache) -> Toolset:
    return toolsets.get(COUNTRY_TOOLS)


def test_the_function_meant_is_selected_and_filled_from_the_request(
    pipeline: Pipeline, countries: Toolset
) -> None:
    task = pipeline.run(
        TaskRequest("What is the capital of Brazil?", arm="template", toolset=countries)
    )
    assert task.call == "country_info_capital(country='Brazil')"
    assert task.selection is not None and not task.selection.declined
    assert task.selection.candidates[0].id == "request-tools/country_info_capital"
    assert task.selection.confidence > 0.8
    (call,) = task.calls
    assert call.function == "country_info_capital" and call.arguments == {"country": "Brazil"}
    assert call.verification and call.verification.grounding == {"country": "request"}
    # A client's tools now teach the router too: verified, grounded, and free.
    assert task.reward is not None and task.reward > 0.9


def test_a_request_no_tool_fits_is_declined_and_teaches_nothing(
    pipeline: Pipeline, countries: Toolset
) -> None:
    task = pipeline.run(TaskRequest("Play some jazz in the kitchen", toolset=countries))
    assert task.execution and task.execution.status == "no_match"
    assert task.selection and task.selection.declined
    assert "no offered API fits" in task.execution.output
    assert task.attempts == [] and task.calls == [] and task.reward is None and task.arm is None
    assert all(a["pulls"] == 0 for a in pipeline.router.stats()["arms"].values())
    assert pipeline.tasks.get(task.task_id).execution.status == "no_match"  # stored


def test_tool_choice_required_and_named_override_the_decision(
    pipeline: Pipeline, countries: Toolset, arms: dict[str, FakeArm]
) -> None:
    arms["cheap"].default = "country_info_population(country='Brazil')"
    required = pipeline.run(
        TaskRequest(
            "Play some jazz", arm="cheap", toolset=countries, tool_choice=ToolChoice("required")
        )
    )
    assert required.calls and not required.selection.declined  # type: ignore[union-attr]
    named = pipeline.run(
        TaskRequest(
            "What is the capital of Brazil?",
            arm="cheap",
            toolset=countries,
            tool_choice=ToolChoice("function", "country_info_population"),
        )
    )
    assert named.calls[0].function == "country_info_population"
    assert arms["cheap"].requests[-1].fill.doc.name == "country_info_population"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="not an offered function"):
        pipeline.run(
            TaskRequest("x", toolset=countries, tool_choice=ToolChoice("function", "nope"))
        )


def test_routed_requests_escalate_and_the_starting_arm_earns_what_it_led_to(
    pipeline: Pipeline, countries: Toolset, arms: dict[str, FakeArm]
) -> None:
    arms["cheap"].default = "country_info_capital()"  # cannot fill: an invalid call
    arms["strong"].default = "country_info_capital(country='Brazil')"
    # Routed (no arm pinned), with a policy that ranks cheap first.
    request = TaskRequest("What is the capital of Brazil?", toolset=countries, policy="fixed:cheap")
    task = pipeline.run(request)
    first, second = task.attempts  # the same function, written again by the next arm
    assert first.arm == "cheap" and first.status == "invalid_call"
    assert second.arm == task.arm != "cheap" and second.api_id == first.api_id
    assert task.calls[0].arguments == {"country": "Brazil"}
    stats = pipeline.router.stats()["arms"]
    # Starting with cheap led to a right call: that is what choosing it earned.
    assert stats["cheap"]["pulls"] == 1 and stats["cheap"]["accuracy"] == 1.0
    assert stats[second.arm]["pulls"] == 1 and stats[second.arm]["accuracy"] == 1.0
    # Pinned to cheap, nothing escalates: cheap earns its own invalid call.
    pipeline.run(TaskRequest(request.query, toolset=countries, arm="cheap"))
    stats = pipeline.router.stats()["arms"]
    assert stats["cheap"]["pulls"] == 2 and stats["cheap"]["accuracy"] == 0.5


def test_escalation_goes_to_the_cheapest_arm_not_yet_tried(
    retriever: HybridRetriever, small_data: Path, countries: Toolset
) -> None:
    """Whatever order the policy gives the others, a call that does not verify is written
    again by the arm whose calls have cost least so far, then the next dearest."""
    arms = {
        "cheap": FakeArm("cheap", default="country_info_capital()"),  # cannot fill
        "dear": FakeArm("dear", default="country_info_capital()", price=Price(output_per_1k=2)),
        "mid": FakeArm(
            "mid", default="country_info_capital(country='Brazil')", price=Price(output_per_1k=1)
        ),
    }
    config = PoolConfig.model_validate({"arms": {}})
    settings = Settings(data_dir=small_data)
    with Pipeline.open(settings, retriever=retriever, pool_config=config, extra_arms=arms) as p:
        for name, arm in arms.items():  # what one call by each has cost
            p.arm_costs.record(name, arm.price.cost(0, 7, 0.0))
        for _ in range(6):  # fixed:cheap ranks the other two at random
            task = p.run(TaskRequest("Capital of Brazil?", toolset=countries, policy="fixed:cheap"))
            assert [a.arm for a in task.attempts] == ["cheap", "mid"]
            assert task.calls[0].arguments == {"country": "Brazil"}


def test_a_value_the_request_never_states_is_not_escalated_for(
    pipeline: Pipeline, toolsets: ToolsetCache, arms: dict[str, FakeArm]
) -> None:
    """Any arm can only invent a number the request does not give: a dearer arm's guess
    would cost more and ground nothing. One the request does give is escalated for."""
    sqrt = toolsets.get([tool("math_sqrt", "Square root of a number", number="number")])
    arms["cheap"].default = "math_sqrt(number=16)"
    arms["strong"].default = "math_sqrt(number=81)"
    unstated = pipeline.run(
        TaskRequest("Calculate the square root of a given number.", toolset=sqrt,
                    policy="fixed:cheap")
    )  # fmt: skip
    assert [a.arm for a in unstated.attempts] == ["cheap"]
    assert unstated.calls[0].verification.ungrounded_required == ["number"]  # type: ignore[union-attr]
    stated = pipeline.run(
        TaskRequest("Calculate the square root of 81.", toolset=sqrt, policy="fixed:cheap")
    )
    first, second = stated.attempts  # written again by another arm (the free template)
    assert first.arm == "cheap" and second.arm != "cheap"
    assert stated.calls[0].arguments == {"number": 81}


def test_arm_costs_order_the_others_cheapest_first_and_unseen_as_cheapest() -> None:
    costs = ArmCosts()
    assert costs.escalation([]) == []
    assert costs.escalation(["a", "b", "c"]) == ["a", "b", "c"]  # nothing seen: router order
    costs.record("c", 0.002)
    costs.record("b", 0.010)
    costs.record("b", 0.000)  # mean 0.005
    costs.record("a", 1.0)  # the router's choice stays first, however dear
    assert costs.mean("b") == pytest.approx(0.005)
    assert costs.escalation(["a", "d", "b", "c"]) == ["a", "d", "c", "b"]


def test_an_invented_value_earns_less_than_a_copied_one(
    pipeline: Pipeline, countries: Toolset, arms: dict[str, FakeArm]
) -> None:
    query = "What is the capital of Brazil?"
    arms["cheap"].default = "country_info_capital(country='Argentina')"
    invented = pipeline.run(TaskRequest(query, arm="cheap", toolset=countries))
    arms["cheap"].default = "country_info_capital(country='Brazil')"
    copied = pipeline.run(TaskRequest(query, arm="cheap", toolset=countries))
    assert invented.calls[0].verification.ungrounded_required == ["country"]  # type: ignore[union-attr]
    assert invented.reward is not None and copied.reward is not None
    assert copied.reward - invented.reward > 0.4


def test_dates_and_codes_reach_the_call_in_the_form_its_schema_asks(
    pipeline: Pipeline, toolsets: ToolsetCache
) -> None:
    """Through the chat endpoint's own code: the date the system prompt states is the
    day "tomorrow" counts from; a named city's zone is its IANA code; both are grounded."""
    from agent.chat.completion import prepare, task_request
    from agent.chat.schema import ChatCompletionRequest

    meeting = tool("schedule_meeting", "Schedule a meeting", date="string", timezone="string")
    parameters = meeting["function"]["parameters"]  # type: ignore[index]
    parameters["properties"]["date"]["description"] = "Meeting date (YYYY-MM-DD)"
    body = ChatCompletionRequest.model_validate(
        {
            "model": "template",
            "messages": [
                {"role": "system", "content": "Today is Monday, 23 October 2023."},
                {"role": "user", "content": "Schedule a meeting tomorrow in Tokyo time"},
            ],
            "tools": [meeting],
        }
    )
    task = pipeline.run(task_request(prepare(body, pipeline.pool.names), toolsets))
    (call,) = task.calls
    assert call.arguments == {"date": "2023-10-24", "timezone": "Asia/Tokyo"}
    assert call.verification is not None and call.verification.passed
    assert call.verification.grounding == {"date": "request", "timezone": "code"}


def test_a_dictated_message_reaches_the_call_whole(
    pipeline: Pipeline, toolsets: ToolsetCache
) -> None:
    """Through the chat endpoint's own code: what the user dictates after "saying" is
    the message, and the recipient is the name before it."""
    from agent.chat.completion import prepare, task_request
    from agent.chat.schema import ChatCompletionRequest

    send = tool("send_message", "Send a text message", recipient="string", message="string")
    body = ChatCompletionRequest.model_validate(
        {
            "model": "template",
            "messages": [{"role": "user", "content": "Send a message to John saying I'll be late"}],
            "tools": [send],
        }
    )
    task = pipeline.run(task_request(prepare(body, pipeline.pool.names), toolsets))
    (call,) = task.calls
    assert call.arguments == {"recipient": "John", "message": "I'll be late"}
    assert call.verification is not None and call.verification.passed


def test_the_template_makes_no_call_with_a_word_that_is_no_value(
    pipeline: Pipeline, toolsets: ToolsetCache
) -> None:
    """ "A specific gene" names no gene: the template arm's call would be
    `gene_id='specific'`; it makes none, and the request is left to an LLM arm."""
    from agent.chat.completion import prepare, task_request
    from agent.chat.schema import ChatCompletionRequest

    gene = tool("gene_get_sequence", "Retrieve the DNA sequence of a gene", gene_id="string")
    body = ChatCompletionRequest.model_validate(
        {
            "model": "template",
            "messages": [
                {"role": "user", "content": "Retrieve the DNA sequence of a specific gene"}
            ],
            "tools": [gene],
        }
    )
    task = pipeline.run(task_request(prepare(body, pipeline.pool.names), toolsets))
    assert not any(call.arguments.get("gene_id") == "specific" for call in task.calls)
    assert task.execution is None or task.execution.status != "ok"
