"""`toolroute bench serve`: load on a real server from a separate process (wrk).

The service runs as `toolroute serve` in a subprocess on a loopback port, over a copy of
the data dir (so the benchmark's tasks do not land in yours). wrk posts tasks (template
arm, simulated execution in the sandbox) over a fixed number of connections:

1. **sustained**: `connections` connections for `duration_s`, each sending its next request
   as soon as the last is answered: the most the service does (requests/s), at a latency
   that is mostly queueing (Little's law: connections / throughput);
2. **paced**: requests at a fixed `rate` (open loop, from this process), whatever the
   answers: the latency users see at that load. Each latency is measured from the time the
   request was due, so a stalled server cannot hide its stall (no coordinated omission);
3. **overload**: `overload` times the connections; the share answered 503/429 (each with
   `Retry-After`), any other error, and the time until the service answers normally again.

Afterwards every 201 must be a task in the database: nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np

from agent.errors import LoadTestError
from agent.jsontypes import JSONObject
from agent.tasks import TaskStore

BENCH_KEY = "bench-key"
QUERIES = (
    "summarize a long news article",
    "translate English text to French",
    "classify images of animals",
    "detect objects in a street photo",
    "transcribe speech from an audio file",
    "answer questions about a document",
    "generate an image from a text prompt",
    "estimate depth from a single image",
)

_WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
local queries = { %(queries)s }
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; retry_after = 0; n = 0 end
function request()
  n = n + 1
  local q = queries[(n %% #queries) + 1]
  return wrk.format(nil, nil, nil, '{"query": "' .. q .. '", "arm": "template"}')
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if headers["retry-after"] or headers["Retry-After"] then retry_after = retry_after + 1 end
end
function done(summary, latency, requests)
  local total, with_retry = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
    with_retry = with_retry + t:get("retry_after")
  end
  io.write("STATUS")
  for k, v in pairs(total) do io.write(" " .. k .. "=" .. v) end
  io.write("\n")
  io.write(string.format("RETRY_AFTER %%d\n", with_retry))
  io.write(string.format("LATENCY_US p50=%%d p90=%%d p99=%%d max=%%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  local e = summary.errors
  io.write(string.format(
    "SUMMARY requests=%%d duration_us=%%d connect=%%d read=%%d write=%%d timeout=%%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Phase:
    connections: int
    duration_s: float
    requests: int = 0
    requests_per_s: float = 0.0
    status: dict[str, int] = field(default_factory=dict)
    with_retry_after: int = 0
    socket_errors: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    offered_per_s: float | None = None  # the paced phase's fixed rate

    @property
    def created(self) -> int:
        return self.status.get("201", 0)

    @property
    def refused(self) -> int:
        return self.status.get("503", 0) + self.status.get("429", 0)

    @property
    def errors(self) -> int:
        """Anything but 201 and the refusals back-pressure is meant to give."""
        other = sum(n for code, n in self.status.items() if code not in ("201", "503", "429"))
        return other + self.socket_errors


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadTestError("wrk is not installed: apt-get install wrk (make bench does)")
    return found


def run_wrk(url: str, connections: int, duration_s: float, script: Path) -> Phase:
    argv = [
        wrk_binary(),
        "-t1",  # one load thread: this machine has two cores and the server needs them
        f"-c{connections}",
        f"-d{int(duration_s)}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        f"{url}/v1/tasks",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise LoadTestError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    return _parse(out.stdout, connections, duration_s)


def _parse(text: str, connections: int, duration_s: float) -> Phase:
    phase = Phase(connections, duration_s)
    status_line = re.search(r"^STATUS(.*)$", text, re.M)
    if status_line:
        for pair in status_line.group(1).split():
            code, count = pair.split("=")
            phase.status[code] = int(count)
    retry = re.search(r"^RETRY_AFTER (\d+)", text, re.M)
    phase.with_retry_after = int(retry.group(1)) if retry else 0
    latency = re.search(r"p50=(\d+) p90=(\d+) p99=(\d+) max=(\d+)", text)
    summary = re.search(
        r"requests=(\d+) duration_us=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+)",
        text,
    )
    if latency is None or summary is None:
        raise LoadTestError(f"unexpected wrk output:\n{text}")
    phase.p50_ms, phase.p90_ms, phase.p99_ms, phase.max_ms = (
        int(v) / 1000 for v in latency.groups()
    )
    requests, duration_us, *errors = (int(v) for v in summary.groups())
    phase.requests = requests
    phase.requests_per_s = requests / (duration_us / 1e6)
    phase.socket_errors = sum(errors)
    return phase


def run_paced(url: str, rate: float, duration_s: float, key: str = BENCH_KEY) -> Phase:
    """`rate` tasks per second for `duration_s`, sent on schedule (open loop)."""
    return asyncio.run(_paced(url, rate, duration_s, key))


async def _paced(url: str, rate: float, duration_s: float, key: str) -> Phase:
    phase = Phase(connections=0, duration_s=duration_s, offered_per_s=rate)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    in_flight = peak = 0
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=limits
    ) as client:
        start = loop.time() + 0.2

        async def one(i: int) -> float:
            nonlocal in_flight, peak
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            in_flight += 1
            peak = max(peak, in_flight)
            body = {"query": QUERIES[i % len(QUERIES)], "arm": "template"}
            try:
                reply = await client.post("/v1/tasks", json=body)
                code = str(reply.status_code)
                phase.status[code] = phase.status.get(code, 0) + 1
                phase.with_retry_after += "retry-after" in reply.headers
            except httpx.HTTPError:
                phase.socket_errors += 1
            finally:
                in_flight -= 1
            done = loop.time()
            latencies.append(done - due)
            return done

        finished = await asyncio.gather(*(one(i) for i in range(int(rate * duration_s))))
    phase.connections = peak  # the most requests in flight at once
    phase.requests = len(latencies)
    phase.requests_per_s = phase.requests / (max(finished) - start)
    p50, p90, p99 = np.percentile(np.array(latencies) * 1000, [50, 90, 99])
    phase.p50_ms, phase.p90_ms, phase.p99_ms = float(p50), float(p90), float(p99)
    phase.max_ms = max(latencies) * 1000
    return phase


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _task_count(data_dir: Path) -> int:
    tasks = TaskStore(data_dir / "tasks.db")
    try:
        return tasks.count()
    finally:
        tasks.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LoadTestError("the server exited during start-up")
        try:
            if httpx.get(f"{url}/readyz", headers=headers, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise LoadTestError("the server did not become ready")


def _recovery_s(url: str, timeout_s: float = 60) -> float:
    """Seconds from the end of the overload until a task is answered 201 again."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    body = {"query": "classify images of animals", "arm": "template"}
    while time.monotonic() - started < timeout_s:
        reply = httpx.post(f"{url}/v1/tasks", json=body, headers=headers, timeout=30)
        if reply.status_code == 201:
            return time.monotonic() - started
        time.sleep(0.05)
    raise LoadTestError(f"the service did not recover within {timeout_s:g} s")


def run_load_test(
    data_dir: Path,
    *,
    connections: int = 4,
    duration_s: float = 20.0,
    rate: float = 25.0,
    overload: int = 4,
) -> JSONObject:
    """The three phases against a fresh server over a copy of `data_dir` (catalog, index)."""
    wrk_binary()
    with tempfile.TemporaryDirectory(prefix="toolroute-load-") as tmp:
        work = Path(tmp) / "data"
        work.mkdir()
        shutil.copy2(data_dir / "catalog.db", work / "catalog.db")
        shutil.copytree(data_dir / "index", work / "index")
        script = Path(tmp) / "tasks.lua"
        queries = ", ".join(f'"{q}"' for q in QUERIES)
        script.write_text(_WRK_SCRIPT % {"key": BENCH_KEY, "queries": queries})
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "TOOLROUTE_DATA_DIR": str(work),
            "TOOLROUTE_API_KEYS": BENCH_KEY,
            "TOOLROUTE_PORT": str(port),
            "TOOLROUTE_RATE_LIMIT_PER_S": "0",  # measure the service, not the limiter
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "serve", "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(url, server)
            run_wrk(url, connections, 3, script)  # warm-up: models, caches, first sandbox
            before = _task_count(work)
            sustained = run_wrk(url, connections, duration_s, script)
            paced = run_paced(url, rate, duration_s)
            overloaded = run_wrk(url, connections * overload, duration_s, script)
            recovery = _recovery_s(url)
            alive = server.poll() is None
            stored = _task_count(work) - before - 1  # the recovery probe's own task
        finally:
            server.terminate()
            server.wait(timeout=60)
    acknowledged = sustained.created + paced.created + overloaded.created
    return {
        "sustained": asdict(sustained) | {"errors": sustained.errors},
        "paced": asdict(paced) | {"errors": paced.errors},
        "overload": asdict(overloaded)
        | {"errors": overloaded.errors, "refused": overloaded.refused, "factor": overload},
        "recovery_s": round(recovery, 3),
        "server_alive_after": alive,
        "acknowledged_tasks": acknowledged,
        "stored_tasks": stored,
        "lost_tasks": acknowledged - stored,
    }
