from __future__ import annotations

import pytest

from router import AllEndpointsFailedError, EndpointFailure, EndpointPool
from router.endpoints import EndpointState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_faster_endpoint_is_preferred() -> None:
    clock = Clock()
    pool = EndpointPool([("http://slow", "eu"), ("http://fast", "us")], clock=clock)

    def attempt(e: EndpointState) -> str:
        clock.now += 2.0 if e.url == "http://slow" else 0.1
        return e.url

    assert pool.call(attempt)[0] == "http://slow"  # never measured: list order
    assert pool.call(attempt)[0] == "http://fast"  # unmeasured: tried next
    assert [e.url for e in pool.order()] == ["http://fast", "http://slow"]


def test_in_flight_requests_count_against_an_endpoint() -> None:
    pool = EndpointPool([("http://a", None), ("http://b", None)])
    a, b = pool.endpoints
    a.ewma_latency_s, b.ewma_latency_s = 1.0, 1.5
    a.in_flight = 1
    assert pool.order()[0] is b


def test_a_failing_endpoint_cools_down_and_the_call_moves_on() -> None:
    clock = Clock()
    pool = EndpointPool([("http://down", None), ("http://up", None)], cooldown_s=10, clock=clock)
    tried: list[str] = []

    def attempt(e: EndpointState) -> str:
        tried.append(e.url)
        if e.url == "http://down":
            raise EndpointFailure("connection refused")
        return "ok"

    assert pool.call(attempt) == ("ok", pool.endpoints[1])
    assert tried == ["http://down", "http://up"]
    tried.clear()
    pool.call(attempt)
    assert tried == ["http://up"]  # cooling down: not tried first
    clock.now += 11
    pool.endpoints[1].ewma_latency_s = 5.0
    pool.endpoints[0].ewma_latency_s = 0.1
    tried.clear()
    pool.call(attempt)
    assert tried == ["http://down", "http://up"]  # cooled off: tried again
    assert pool.endpoints[0].cooldown_until == pytest.approx(clock.now + 20)  # doubled


def test_every_endpoint_failing_raises_with_each_reason() -> None:
    pool = EndpointPool([("http://a", None), ("http://b", None)])

    def attempt(e: EndpointState) -> str:
        raise EndpointFailure(f"{e.url} timed out")

    with pytest.raises(AllEndpointsFailedError, match="http://a: http://a timed out; http://b"):
        pool.call(attempt)
