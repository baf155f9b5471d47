"""Three `toolroute serve` processes on one PostgreSQL server: the topology of
docker/compose.yaml without Docker, and its faults.

Every replica has its own data dir (its own search index) and shares the catalog, the
router, the keys and the tasks through PostgreSQL. The tests kill a replica with SIGKILL
and restart PostgreSQL while requests are running, then check that nothing a replica
acknowledged was lost.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import TOOLROUTE, cli_env, free_port
from tests.postgres import PostgresServer, require_server_bindir

USER_KEY = "replica-test-user-key"
ADMIN_KEY = "replica-test-admin-key"
USER = {"Authorization": f"Bearer {USER_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
QUERIES = (
    "classify images of cats and dogs",
    "translate English text to German",
    "detect objects in a street photo",
    "summarise a long news article",
)


@dataclass
class Replica:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def replica_data_dir(built: Path, target: Path) -> Path:
    """Its own catalog file and index (copied), the built models shared read-only."""
    target.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(built / "index"), str(target / "index")], check=True)
    (target / "models").symlink_to(built / "models", target_is_directory=True)
    (target / "toolroute.toml").write_text('[arms.template]\ntype = "template"\n')
    return target


def start_replica(built: Path, workdir: Path, database_url: str) -> Replica:
    data_dir = replica_data_dir(built, workdir)
    port = free_port()
    log = workdir / "serve.log"
    env = cli_env(
        data_dir,
        TOOLROUTE_DATABASE_URL=database_url,
        TOOLROUTE_API_KEYS=USER_KEY,
        TOOLROUTE_ADMIN_KEYS=ADMIN_KEY,
        TOOLROUTE_PORT=str(port),
    )
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [*TOOLROUTE, "serve", "--log-level", "warning"], env=env, stdout=sink, stderr=sink
        )
    return Replica(data_dir, port, process, log)


def wait_ready(replica: Replica, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    with replica.client() as client:
        while time.monotonic() < deadline:
            assert replica.process.poll() is None, replica.log.read_text()[-3000:]
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    raise AssertionError(f"replica on {replica.port} never became ready")


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A private server: these tests stop and restart it."""
    server = PostgresServer(require_server_bindir()).start()
    yield server
    server.remove()


@pytest.fixture
def replicas(
    built_data_dir: Path, tmp_path: Path, postgres: PostgresServer
) -> Iterator[list[Replica]]:
    url = postgres.create_database()
    started = [start_replica(built_data_dir, tmp_path / f"r{n}", url) for n in range(3)]
    try:
        for replica in started:
            wait_ready(replica)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                replica.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                replica.process.kill()


@dataclass
class Load:
    """Tasks sent round-robin to the replicas from two threads until stopped; every 201
    is an acknowledged task that must never be lost."""

    replicas: list[Replica]
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (task id, query)
    statuses: list[int] = field(default_factory=list)
    retry_after: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> list[threading.Thread]:
        targets = itertools.cycle(range(len(self.replicas)))
        lock = threading.Lock()

        def worker(offset: int) -> None:
            for n in itertools.count(offset):
                if self.stop.is_set():
                    return
                with lock:
                    replica = self.replicas[next(targets)]
                query = QUERIES[n % len(QUERIES)]
                try:
                    with replica.client() as client:
                        reply = client.post("/v1/tasks", json={"query": query}, headers=USER)
                except httpx.TransportError:
                    continue  # a killed replica: nothing was acknowledged
                with lock:
                    self.statuses.append(reply.status_code)
                    if reply.status_code == 201:
                        self.acknowledged.append((reply.json()["id"], query))
                    elif reply.status_code == 503:
                        self.retry_after.append(reply.headers.get("retry-after", ""))
                time.sleep(0.02)

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(2)]
        for thread in threads:
            thread.start()
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for thread in threads:
            thread.join(timeout=120)


def until(check: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "never happened"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_killed_replica_and_a_postgres_restart_lose_no_acknowledged_task(
    replicas: list[Replica], postgres: PostgresServer
) -> None:
    load = Load(replicas)
    threads = load.run()
    until(lambda: len(load.acknowledged) >= 6, 120)

    # SIGKILL one replica mid-load: no shutdown, no drain.
    victim = replicas[2]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=30)
    survivors = replicas[:2]
    before = len(load.acknowledged)
    until(lambda: len(load.acknowledged) >= before + 6, 120)

    # PostgreSQL goes away: the survivors answer 503 with Retry-After, not 500.
    postgres.stop("immediate")
    until(lambda: 503 in load.statuses, 60)
    assert set(load.retry_after) == {"5"}
    assert 500 not in load.statuses

    # ... and recover by themselves once it is back.
    postgres.restart()
    returned = len(load.acknowledged)
    recovery_s = until(lambda: len(load.acknowledged) >= returned + 4, 60)
    load.finish(threads)
    print(f"first acknowledged task {recovery_s:.2f} s after PostgreSQL returned")

    # Every acknowledged task is stored, readable through every surviving replica.
    for replica in survivors:
        with replica.client() as client:
            for task_id, query in load.acknowledged:
                stored = client.get(f"/v1/tasks/{task_id}", headers=USER)
                assert stored.status_code == 200, (task_id, stored.text)
                assert stored.json()["query"] == query
    # And the router's statistics are one shared record that every replica reads alike
    # (the policy's own score aside: it may sample). A reward can outnumber the stored
    # tasks, never the reverse: a task is stored after its reward, and PostgreSQL may
    # vanish in between (the client then got a 503, not an acknowledgement).
    counters = []
    for replica in survivors:
        with replica.client() as client:
            arms = client.get("/v1/router", headers=USER).json()["arms"]
        counters.append(
            {arm: {k: v for k, v in s.items() if k != "score"} for arm, s in arms.items()}
        )
    assert counters[0] == counters[1]
    assert counters[0]["template"]["pulls"] >= len(load.acknowledged)


def test_a_catalog_change_on_one_replica_is_searchable_on_the_others(
    replicas: list[Replica],
) -> None:
    doc = {
        "id": "weather/get_forecast",
        "hub": "weather",
        "kind": "function",
        "name": "get_forecast",
        "description": "Weather forecast for a city for the next days",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    with replicas[0].client() as writer:
        assert writer.post("/v1/apis", json=doc, headers=ADMIN).status_code == 201
    for replica in replicas[1:]:
        with replica.client() as reader:

            def found(client: httpx.Client = reader) -> bool:
                reply = client.get(
                    "/v1/search", params={"q": "weather forecast for Paris", "k": 1}, headers=USER
                )
                return reply.json()["hits"][0]["id"] == doc["id"]

            print(f"visible on :{replica.port} after {until(found, 30):.2f} s")
