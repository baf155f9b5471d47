"""Fill and verify, candidate by candidate, with fake arms (queued answers)."""

from __future__ import annotations

from agent.arms.base import Arm, RawGeneration
from agent.calls.attempts import CallMaker
from agent.calls.select import CallSelection, Candidate
from agent.executor import ValidationExecutor
from agent.resolve import CallResolver
from apidb import APIDoc
from retriever import Hit
from tests.fakes import FakeArm


def function(name: str, *required: str) -> APIDoc:
    properties = {arg: {"type": "string"} for arg in required}
    return APIDoc(
        id=f"tools/{name}",
        hub="tools",
        kind="function",
        name=name,
        call=f"{name}()",
        parameters={"type": "object", "properties": properties, "required": list(required)},
    )


FORECAST = function("get_forecast", "city")
WEATHER = function("get_weather", "city")
EMAIL = function("send_email", "to")
RESOLVER = CallResolver([FORECAST, WEATHER, EMAIL])


def selection(*docs: APIDoc, eligible: int | None = None) -> CallSelection:
    candidates = [
        Candidate(Hit(doc, 1.0, {}, 0.8 - i / 100), 0.8 - i / 100) for i, doc in enumerate(docs)
    ]
    return CallSelection(candidates, 0.99, False, "", eligible or len(docs))


def maker(*arms: FakeArm, max_attempts: int = 3) -> CallMaker:
    by_name: dict[str, Arm] = {arm.name: arm for arm in arms}
    return CallMaker(by_name.__getitem__, ValidationExecutor(), max_attempts=max_attempts)


def test_the_arm_fills_the_chosen_function_only() -> None:
    arm = FakeArm("a", default="get_forecast(city='Oslo')")
    part = maker(arm).make("forecast for Oslo", selection(FORECAST, WEATHER), ["a"], RESOLVER)
    assert [a.doc.id for a in part.attempts] == ["tools/get_forecast"]
    request = arm.requests[0]
    assert request.fill is not None and request.fill.doc == FORECAST
    assert [h.doc for h in request.hits] == [FORECAST]  # one candidate, no list to choose from
    assert request.fill.options["city"][0].value == "Oslo"
    assert part.final is not None and part.final.passed


def test_a_call_that_fails_falls_back_to_the_next_candidate() -> None:
    arm = FakeArm("a").enqueue("this is not code", "get_weather(city='Oslo')")
    part = maker(arm).make("weather Oslo", selection(FORECAST, WEATHER), ["a"], RESOLVER)
    first, second = part.attempts
    assert first.execution and first.execution.status == "invalid_call" and not first.passed
    assert second.passed and part.final is second and part.answering == [second]


def test_attempts_are_bounded_and_the_best_failure_answers() -> None:
    arm = FakeArm("a", default="nonsense")
    part = maker(arm, max_attempts=2).make(
        "weather Oslo", selection(FORECAST, WEATHER, EMAIL), ["a"], RESOLVER
    )
    assert len(part.attempts) == 2 and not part.passed
    assert part.final is part.attempts[0]  # the top candidate's failure is the telling one


def test_a_call_that_runs_with_an_invented_value_is_kept_over_one_that_did_not_run() -> None:
    arm = FakeArm("a").enqueue("get_forecast(city='Bergen')", "nonsense")
    part = maker(arm).make("what's the forecast?", selection(FORECAST, WEATHER), ["a"], RESOLVER)
    assert not any(a.passed for a in part.attempts)
    assert part.final is part.attempts[0]
    assert part.final.verification and part.final.verification.ungrounded_required == ["city"]


def test_only_eligible_candidates_are_tried() -> None:
    arm = FakeArm("a", default="nonsense")
    part = maker(arm).make("x", selection(FORECAST, WEATHER, eligible=1), ["a"], RESOLVER)
    assert len(part.attempts) == 1


def test_a_declined_selection_makes_no_attempt() -> None:
    arm = FakeArm("a", default="get_weather(city='Oslo')")
    declined = CallSelection([], 0.01, True, "no offered API fits")
    assert maker(arm).make("translate this", declined, ["a"], RESOLVER).attempts == []
    assert arm.requests == []


def test_escalation_asks_the_next_arm_when_the_cheap_one_cannot_fill() -> None:
    cheap = FakeArm("cheap", default="get_forecast()")  # missing its required argument
    strong = FakeArm("strong", default="get_forecast(city='Oslo')")
    part = maker(cheap, strong).make(
        "forecast in Oslo", selection(FORECAST, WEATHER), ["cheap", "strong"], RESOLVER,
        escalate=True,
    )  # fmt: skip
    assert [(a.generation.arm, a.doc.name) for a in part.attempts if a.generation] == [
        ("cheap", "get_forecast"),
        ("strong", "get_forecast"),  # the same function, written by the stronger arm
    ]
    assert part.final is part.attempts[1] and part.final.passed


def test_without_escalation_a_pinned_arm_answers_alone() -> None:
    cheap = FakeArm("cheap", default="get_forecast()")
    strong = FakeArm("strong", default="get_forecast(city='Oslo')")
    maker(cheap, strong).make(
        "forecast in Oslo", selection(FORECAST), ["cheap", "strong"], RESOLVER
    )
    assert strong.requests == []


def test_a_model_that_ran_out_of_tokens_is_recorded_as_such() -> None:
    arm = FakeArm("a").enqueue(RawGeneration("get_forecast(city='Os", meta={"truncated": True}))
    part = maker(arm).make("forecast Oslo", selection(FORECAST), ["a"], RESOLVER)
    attempt = part.attempts[0]
    assert attempt.parse_error and attempt.parse_error.startswith("the model ran out of tokens")
    assert attempt.execution and attempt.execution.status == "invalid_call"
    assert "ran out of tokens" in attempt.execution.output


def test_every_value_the_request_lists_gets_its_own_call() -> None:
    arm = FakeArm("a", default="get_weather(city='Paris')")
    part = maker(arm).make(
        "the weather in Paris, Rome and Oslo", selection(WEATHER), ["a"], RESOLVER
    )
    assert [a.arguments for a in part.answering] == [
        {"city": "Paris"},
        {"city": "Rome"},
        {"city": "Oslo"},
    ]
    assert [a.derived_from for a in part.answering] == [None, "city='Paris'", "city='Paris'"]
    assert len(arm.requests) == 1  # the other calls are the same call with another value
