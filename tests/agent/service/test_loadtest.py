"""The load test's own parts: the open-loop client against a live server, and wrk's
report parsed (the full `bench serve` is a benchmark, not a test)."""

from __future__ import annotations

from agent.service.loadtest import _parse, run_paced
from tests.agent.service.conftest import API_KEY, LiveServer

WRK_REPORT = """\
STATUS 201=480 503=20
RETRY_AFTER 20
LATENCY_US p50=139000 p90=211000 p99=266000 max=339000
SUMMARY requests=500 duration_us=20000000 connect=0 read=1 write=0 timeout=0
"""


def test_wrk_report_is_parsed() -> None:
    phase = _parse(WRK_REPORT, connections=4, duration_s=20)
    assert phase.status == {"201": 480, "503": 20} and phase.with_retry_after == 20
    assert (phase.p50_ms, phase.p99_ms) == (139.0, 266.0)
    assert phase.requests_per_s == 25.0
    assert phase.refused == 20 and phase.errors == 1  # the read error


def test_the_paced_phase_sends_on_schedule_and_counts_every_answer(
    shared_server: LiveServer,
) -> None:
    phase = run_paced(shared_server.url, rate=8, duration_s=2, key=API_KEY)
    assert phase.requests == 16 and phase.status == {"201": 16} and phase.errors == 0
    assert phase.offered_per_s == 8 and phase.connections >= 1
    # Open loop: 16 requests due over 2 s cannot finish much sooner than that.
    assert phase.requests_per_s <= 8 * 1.2
    assert 0 < phase.p50_ms <= phase.p99_ms <= phase.max_ms
