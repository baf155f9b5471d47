"""What a client waits for: the first streamed chunk, the whole answer, and a CLI error.

    .venv/bin/python scripts/bench_clients.py [--data-dir DIR] [-n 40] [--json]

Starts `toolroute serve` on a free loopback port over DIR (the index must be built, as
`make run` leaves it), then sends the same chat requests with the template arm through the
`openai` SDK, streamed and not, one at a time, and times `toolroute` argument errors. The
figures are medians and 95th percentiles of the client's own clock (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai

KEY = "bench-clients-key"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email message to a recipient",
            "parameters": {
                "type": "object",
                "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                "required": ["to", "body"],
            },
        },
    },
]
CITIES = ["Oslo", "Paris", "Rome", "Lima", "Cairo", "Quito", "Dakar", "Hanoi"]
CLI_ERRORS = [
    ["ask", "x", "--hub", "nosuch"],
    ["search", "x", "--hub", "nosuch"],
    ["apis", "list", "--hub", "nosuch"],
    ["eval", "apibench", "--hub", "nosuch"],
    ["ask", "x", "--arm", "nosuch"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("-n", type=int, default=40, help="chat requests of each kind")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    options = parser.parse_args()
    env = {**os.environ, "TOOLROUTE_DATA_DIR": str(options.data_dir), "TOOLROUTE_API_KEYS": KEY}
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        figures = {"chat": _chat(url, options.n), "cli_error_s": _cli_errors(env)}
    finally:
        server.terminate()
        server.wait(timeout=60)
    if options.json:
        print(json.dumps(figures, indent=2))
        return
    for kind, values in figures["chat"].items():
        print(f"{kind:24} p50 {values['p50_ms']:7.1f} ms   p95 {values['p95_ms']:7.1f} ms")
    cli = figures["cli_error_s"]
    print(f"{'CLI argument error':24} p50 {cli['p50']:7.2f} s    max {cli['max']:7.2f} s")


def _chat(url: str, n: int) -> dict[str, dict[str, float]]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    first_chunk: list[float] = []
    streamed_whole: list[float] = []
    plain: list[float] = []
    for index in range(n):
        messages: Any = [
            {"role": "user", "content": f"What is the weather in {CITIES[index % len(CITIES)]}?"}
        ]
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model="template", messages=messages, tools=TOOLS, stream=True
        )
        first = None
        for _ in stream:
            if first is None:
                first = time.perf_counter() - started
        streamed_whole.append(time.perf_counter() - started)
        first_chunk.append(first if first is not None else float("nan"))
        started = time.perf_counter()
        client.chat.completions.create(model="template", messages=messages, tools=TOOLS)
        plain.append(time.perf_counter() - started)
    client.close()
    return {
        "stream_first_chunk": _summary(first_chunk),
        "stream_whole": _summary(streamed_whole),
        "not_streamed": _summary(plain),
    }


def _cli_errors(env: dict[str, str]) -> dict[str, float]:
    seconds = []
    for args in CLI_ERRORS:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", *args], env=env, capture_output=True, check=False
        )
        seconds.append(time.perf_counter() - started)
        if done.returncode != 2:
            raise SystemExit(f"{args} exited {done.returncode}, not 2: {done.stderr!r}")
    return {"p50": statistics.median(seconds), "max": max(seconds), "n": len(seconds)}


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "n": len(ordered),
    }


def _wait_ready(url: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {KEY}"})
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} was not ready in {timeout_s:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
