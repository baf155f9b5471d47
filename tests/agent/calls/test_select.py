"""Selecting the function meant, declining when none fits, and `tool_choice`."""

from __future__ import annotations

import pytest

from agent.calls.select import (
    Calibration,
    ToolChoice,
    calibration_for,
    default_calibration,
    select,
)
from agent.errors import ConfigError
from apidb import APIDoc
from retriever import Hit

CALIBRATION = Calibration(
    slope=24.0, intercept=-10.0, decline_below=0.3, python_min_similarity=0.16,
    fallback_within=0.05,
)  # fmt: skip


def function(name: str) -> APIDoc:
    return APIDoc(
        id=f"tools/{name}",
        hub="tools",
        kind="function",
        name=name,
        call=f"{name}()",
        parameters={"type": "object", "properties": {}},
    )


def model_api(name: str) -> APIDoc:
    return APIDoc(id=f"hub/{name}", hub="hub", kind="python", name=name, call=f"load('{name}')")


def hit(doc: APIDoc, similarity: float | None, score: float = 0.5) -> Hit:
    return Hit(doc, score, {}, similarity)


def test_functions_are_ordered_by_similarity_with_a_calibrated_confidence() -> None:
    hits = [hit(function("population"), 0.55, 0.9), hit(function("capital"), 0.72, 0.8)]
    chosen = select(hits, calibration=CALIBRATION)
    assert [c.doc.name for c in chosen.candidates] == ["capital", "population"]
    assert not chosen.declined
    assert chosen.confidence == pytest.approx(CALIBRATION.confidence(0.72))
    assert 0.99 < chosen.confidence < 1
    # The runner-up is 0.17 behind: a failed call does not fall back to it.
    assert chosen.to_try(3) == chosen.candidates[:1]


def test_a_near_tie_may_be_tried_when_the_first_call_fails() -> None:
    hits = [hit(function("a"), 0.70), hit(function("b"), 0.68), hit(function("c"), 0.30)]
    assert [c.doc.name for c in select(hits, calibration=CALIBRATION).to_try(3)] == ["a", "b"]


def test_a_request_no_function_fits_is_declined_with_a_reason() -> None:
    chosen = select([hit(function("weather"), 0.12), hit(function("email"), 0.2)])
    assert chosen.declined and chosen.to_try(3) == []
    assert "no offered API fits" in chosen.reason and "0.20" in chosen.reason


def test_model_apis_keep_the_retrievers_order_and_their_own_floor() -> None:
    hits = [hit(model_api("first"), 0.25, 0.9), hit(model_api("second"), 0.4, 0.8)]
    chosen = select(hits, calibration=CALIBRATION)
    assert [c.doc.name for c in chosen.candidates] == ["first", "second"]
    assert not chosen.declined  # 0.4 is under the function threshold, over the model floor
    assert chosen.to_try(3) == chosen.candidates
    assert select([hit(model_api("far"), 0.1)], calibration=CALIBRATION).declined


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ToolChoice("auto")),
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        ({"type": "function", "function": {"name": "f"}}, ToolChoice("function", "f")),
        ({"name": "f"}, ToolChoice("function", "f")),  # legacy `function_call`
    ],
)
def test_tool_choice_reads_every_openai_form(value: object, expected: ToolChoice) -> None:
    assert ToolChoice.parse(value) == expected


@pytest.mark.parametrize("value", ["sometimes", {"type": "function"}, {"name": ""}, 3])
def test_a_malformed_tool_choice_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="tool_choice must be"):
        ToolChoice.parse(value)


def test_tool_choice_overrides_the_decision() -> None:
    far = [hit(function("weather"), 0.1), hit(function("email"), 0.05)]
    required = select(far, choice=ToolChoice("required"))
    assert not required.declined and required.best and required.best.doc.name == "weather"
    named = select(far, choice=ToolChoice("function", "email"))
    assert [c.doc.name for c in named.candidates] == ["email"] and named.confidence == 1.0
    close = [hit(function("weather"), 0.9)]
    none = select(close, choice=ToolChoice("none"))
    assert none.declined and "tool_choice: none" in none.reason
    missing = select(close, choice=ToolChoice("function", "email"))
    assert missing.declined and "'email' was not offered" in missing.reason


def test_the_shipped_calibration_says_where_it_came_from() -> None:
    shipped = default_calibration()
    assert shipped.provenance.startswith("python -m agent.calls.calibrate")
    assert 0 < shipped.decline_below < 1 and shipped.slope > 0
    # The threshold sits between the similarities of related and unrelated requests.
    assert shipped.confidence(0.6) > shipped.decline_below > shipped.confidence(0.2)


def test_the_default_tuned_embedder_has_its_own_floor_for_model_apis() -> None:
    from agent.embedding import DEFAULT_TUNED_MODEL

    shipped = default_calibration()
    tuned = calibration_for(DEFAULT_TUNED_MODEL)

    # Its similarities run higher, and its floor was cross-validated on dev folds.
    assert tuned.python_min_similarity > shipped.python_min_similarity
    assert (tuned.slope, tuned.decline_below) == (shipped.slope, shipped.decline_below)
    assert calibration_for("some-other-model") == shipped
