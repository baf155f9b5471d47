"""Arms with fakes: pricing, the OpenAI-compatible client (httpx.MockTransport), MoA."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from agent.arms.base import GenerationRequest, Price
from agent.arms.moa import MoAArm, Proposer
from agent.arms.openai import OpenAIArm
from agent.errors import ArmUnavailableError, ConfigError
from apidb.bundled import apibench_docs
from retriever import Hit
from tests.fakes import FakeArm

DOCS = apibench_docs("torchhub")[:3]
HITS = [Hit(doc, 1.0 - i / 10) for i, doc in enumerate(DOCS)]
REQUEST = GenerationRequest("recognise actions in a video", HITS)


def test_price_charges_tokens_and_compute_time() -> None:
    price = Price(input_per_1k=0.5, output_per_1k=1.5, per_hour=3.6)
    assert price.cost(1000, 2000, 10.0) == pytest.approx(0.5 + 3.0 + 0.01)
    with pytest.raises(ValueError):
        Price(per_hour=-1)


def test_generation_reports_tokens_latency_and_cost() -> None:
    arm = FakeArm("f", default="x()", price=Price(input_per_1k=1.0, output_per_1k=2.0))
    arm.local = False
    gen = arm.generate(REQUEST)
    assert (gen.tokens_in, gen.tokens_out) == (5, 7)
    assert gen.cost == pytest.approx(5 / 1000 + 14 / 1000)
    assert gen.latency_s >= 0 and gen.arm == "f"


# --------------------------------------------------------------------------- openai


def openai_arm(
    handler: Callable[[httpx.Request], httpx.Response], urls: list[str], **kw: object
) -> OpenAIArm:
    return OpenAIArm(
        "remote",
        [(u, None) for u in urls],
        model="m",
        api_key=SecretStr("sk-secret-123"),
        transport=httpx.MockTransport(handler),
        **kw,  # type: ignore[arg-type]
    )


def chat_answer(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 20},
        },
    )


def test_openai_chat_sends_the_docs_and_reads_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return chat_answer(DOCS[0].call)

    arm = openai_arm(handler, ["http://a/v1"], price=Price(input_per_1k=1.0, output_per_1k=1.0))
    with caplog.at_level(logging.DEBUG):
        gen = arm.generate(REQUEST)
    assert gen.text == DOCS[0].call
    assert (gen.tokens_in, gen.tokens_out) == (120, 20)
    assert gen.cost == pytest.approx(0.14) and gen.endpoint == "http://a/v1"
    (request,) = seen
    assert request.url == "http://a/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret-123"
    body = json.loads(request.content)
    assert body["model"] == "m" and DOCS[0].call in body["messages"][1]["content"]
    # The key is never shown: not in describe(), repr, or logs.
    assert "sk-secret-123" not in json.dumps(arm.describe()) + repr(arm.__dict__) + caplog.text


def test_openai_completions_mode_can_send_the_call_grammar() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"text": " " + DOCS[1].call + "\n"}]})

    gen = openai_arm(handler, ["http://a/v1"], mode="completions", grammar=True).generate(REQUEST)
    assert gen.text == DOCS[1].call
    assert bodies[0]["prompt"].endswith("Call:")  # type: ignore[union-attr]
    assert "root ::=" in bodies[0]["grammar"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="overloaded"),
        httpx.Response(429),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_a_failing_endpoint_moves_the_call_to_the_next(failure: httpx.Response | Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down":
            if isinstance(failure, Exception):
                raise failure
            return failure
        return chat_answer("ok()")

    arm = openai_arm(handler, ["http://down/v1", "http://up/v1"])
    assert arm.generate(REQUEST).endpoint == "http://up/v1"
    assert arm.pool.endpoints[0].failures == 1


def test_every_endpoint_down_is_an_unavailable_arm() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(ArmUnavailableError, match="every endpoint failed"):
        openai_arm(handler, ["http://a/v1", "http://b/v1"]).generate(REQUEST)


def test_a_slow_server_times_out_for_real() -> None:
    # A real socket that accepts and never answers: the read timeout must fire.
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    arm = OpenAIArm("slow", [(f"http://127.0.0.1:{port}/v1", None)], model="m", timeout_s=0.5)
    try:
        with pytest.raises(ArmUnavailableError, match="timed out"):
            arm.generate(REQUEST)
    finally:
        server.close()
        arm.close()


# --------------------------------------------------------------------------- moa


def test_moa_vote_picks_the_call_most_proposers_agree_on() -> None:
    a, b = DOCS[0].call, DOCS[1].call
    p1 = FakeArm("p1").enqueue(a)
    p2 = FakeArm("p2").enqueue(b.replace("'", '"'))  # same call, other quotes
    p3 = FakeArm("p3").enqueue(b)
    moa = MoAArm("moa", [Proposer(p1), Proposer(p2, 0.7), Proposer(p3, 1.0)], mode="vote")
    gen = moa.generate(REQUEST)
    assert gen.text == b.replace("'", '"')  # the first proposer's text of the winning call
    assert gen.meta["votes"] == {DOCS[1].id: 2, DOCS[0].id: 1}
    assert [p["proposer"] for p in gen.meta["proposals"]] == ["p1", "p2@0.7", "p3@1"]
    assert p2.requests[0].temperature == 0.7 and p1.requests[0].temperature is None
    assert gen.tokens_out == 21


def test_moa_vote_ties_go_to_the_earlier_proposer_and_junk_never_wins() -> None:
    moa = MoAArm(
        "moa",
        [
            Proposer(FakeArm("x").enqueue("not code at all")),
            Proposer(FakeArm("y").enqueue(DOCS[2].call)),
            Proposer(FakeArm("z").enqueue(DOCS[0].call)),
        ],
    )
    assert moa.generate(REQUEST).text == DOCS[2].call


def test_moa_skips_unavailable_proposers_and_fails_only_when_all_do() -> None:
    down = FakeArm("down").enqueue(ArmUnavailableError("x"), ArmUnavailableError("x"))
    up = FakeArm("up").enqueue(DOCS[0].call)
    moa = MoAArm("moa", [Proposer(down), Proposer(up)])
    assert moa.generate(REQUEST).text == DOCS[0].call
    with pytest.raises(ArmUnavailableError, match="every proposer failed"):
        MoAArm("moa", [Proposer(down)]).generate(REQUEST)


def test_moa_aggregator_sees_the_proposals_and_layers_chain() -> None:
    p = FakeArm("p").enqueue("first()", "second()")
    agg = FakeArm("agg").enqueue(DOCS[0].call)
    moa = MoAArm("moa", [Proposer(p)], mode="aggregate", aggregator=agg, layers=2)
    gen = moa.generate(REQUEST)
    assert gen.text == DOCS[0].call and gen.meta["aggregator"] == "agg"
    assert p.requests[1].proposals == ("first()",)
    assert agg.requests[0].proposals == ("second()",)


def test_moa_configuration_errors() -> None:
    with pytest.raises(ConfigError):
        MoAArm("moa", [])
    with pytest.raises(ConfigError, match="aggregator"):
        MoAArm("moa", [Proposer(FakeArm())], mode="aggregate")
