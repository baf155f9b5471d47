"""The task store's contract, on SQLite and on a real PostgreSQL server alike."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import DatabaseUnavailableError, TaskNotFoundError
from agent.task import TaskResult
from agent.tasks import TaskStore
from tests.postgres import PostgresServer, require_server_bindir

NOW = "2026-11-22T10:00:00+00:00"


def a_task(**overrides: Any) -> TaskResult:
    task = {
        "task_id": uuid.uuid4().hex,
        "created_at": NOW,
        "query": "classify images",
        "k": 5,
        "arm": "template",
        "api_id": "torchhub/resnet50",
        "execution": {"status": "ok"},
        "reward": 0.9,
        "latency_ms": 12.5,
        "cost": 0.0001,
        "context": {"features": [0.5, 1.0]},
        "owner": "key1",
    }
    return TaskResult.model_validate(task | overrides)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tasks.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def tasks(database: str) -> Iterator[TaskStore]:
    store = TaskStore(database)
    yield store
    store.close()


def test_a_saved_task_reads_back_whole(tasks: TaskStore) -> None:
    task = a_task()
    tasks.save(task)
    assert tasks.get(task.task_id) == task
    assert tasks.get(task.task_id, owner="key1") == task
    with pytest.raises(TaskNotFoundError):
        tasks.get(task.task_id, owner="someone-else")
    assert tasks.count() == 1
    with pytest.raises(TaskNotFoundError):
        tasks.get("no-such-task")


def test_recent_pages_newest_first(tasks: TaskStore) -> None:
    ids = [a_task(query=f"q{i}").task_id for i in range(5)]
    for i, task_id in enumerate(ids):
        tasks.save(a_task(task_id=task_id, query=f"q{i}", owner="key2" if i == 2 else "key1"))
    first = tasks.recent(limit=2)
    assert [t.task_id for _, t in first] == [ids[4], ids[3]]
    rest = tasks.recent(limit=10, before_seq=first[-1][0])
    assert [t.task_id for _, t in rest] == [ids[2], ids[1], ids[0]]
    assert [t.task_id for _, t in tasks.recent(owner="key2")] == [ids[2]]


def test_feedback_is_kept_once_per_task_and_source(tasks: TaskStore) -> None:
    task = a_task()
    tasks.save(task)
    assert tasks.add_feedback(task.task_id, "api", 1, "good", NOW) is True
    assert tasks.add_feedback(task.task_id, "api", -1, "changed my mind", NOW) is False
    assert tasks.add_feedback(task.task_id, "slack:U1", -1, None, NOW) is True
    got = {f.source: (f.score, f.comment) for f in tasks.feedback(task.task_id)}
    assert got == {"api": (1, "good"), "slack:U1": (-1, None)}
    with pytest.raises(TaskNotFoundError):
        tasks.add_feedback("no-such-task", "api", 1, None, NOW)


def test_approved_tasks_are_the_ones_whose_feedback_sums_above_zero(tasks: TaskStore) -> None:
    liked = a_task(query="resnet for my photos", api_id="torchhub/resnet50")
    disputed = a_task(query="a detector", api_id="torchhub/yolo")
    disliked = a_task(query="speech please", api_id="torchhub/silero")
    unanswered = a_task(query="nothing fits", api_id=None)
    silent = a_task(query="no feedback", api_id="torchhub/vgg")
    for task in (liked, disputed, disliked, unanswered, silent):
        tasks.save(task)
    for task, scores in (
        (liked, [1, 1]),
        (disputed, [1, -1]),
        (disliked, [-1]),
        (unanswered, [1]),
    ):
        for number, score in enumerate(scores):
            tasks.add_feedback(task.task_id, f"user{number}", score, None, NOW)
    assert tasks.approved_pairs() == [("resnet for my photos", "torchhub/resnet50")]


def test_a_delivery_is_first_only_once(tasks: TaskStore) -> None:
    assert tasks.first_delivery("event:Ev1", NOW) is True
    assert tasks.first_delivery("event:Ev1", NOW) is False
    assert tasks.first_delivery("event:Ev2", NOW) is True


def test_two_instances_on_one_database_share_tasks_and_race_safely(database: str) -> None:
    # Two service instances: each has its own store (engine, pool) on the same database.
    first, second = TaskStore(database), TaskStore(database)
    try:
        task = a_task()
        first.save(task)
        assert second.get(task.task_id).query == task.query

        # The same Slack retry reaching both at once, the same feedback twice, and new
        # tasks, from 8 threads: every write lands, and each "once" happens once.
        firsts: list[bool] = []
        accepted: list[bool] = []
        errors: list[BaseException] = []

        def work(store: TaskStore, n: int) -> None:
            try:
                for i in range(10):
                    store.save(a_task(query=f"w{n}-{i}"))
                    firsts.append(store.first_delivery(f"event:{i}", NOW))
                    accepted.append(store.add_feedback(task.task_id, f"s{i}", 1, None, NOW))
            except BaseException as exc:  # collected: the assertion below reports it
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(first if n % 2 else second, n)) for n in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert first.count() == second.count() == 1 + 8 * 10
        assert firsts.count(True) == 10
        assert accepted.count(True) == 10
    finally:
        first.close()
        second.close()


def test_an_existing_sqlite_task_database_opens_as_it_is(tmp_path: Path) -> None:
    # A tasks.db written before the store moved to SQLAlchemy (same tables, raw DDL).
    path = tmp_path / "tasks.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " created_at TEXT NOT NULL, query TEXT NOT NULL, arm TEXT, api_id TEXT, status TEXT,"
            " reward REAL, latency_ms REAL NOT NULL, cost REAL NOT NULL, body TEXT NOT NULL);"
            "INSERT INTO tasks (id, created_at, query, latency_ms, cost, body)"
            " VALUES ('old', '2026-01-01', 'q', 1, 0, '{\"task_id\": \"old\"}');"
        )
    store = TaskStore(path)
    try:
        old = store.get("old")  # the row's columns fill in what the old body lacks
        assert (old.task_id, old.query, old.created_at, old.owner) == (
            "old",
            "q",
            "2026-01-01",
            None,
        )
        with pytest.raises(TaskNotFoundError):
            store.get("old", owner="key1")  # no owner: only admins see it
        assert store.add_feedback("old", "api", 1, None, NOW) is True
    finally:
        store.close()


def test_an_unreachable_server_is_a_clear_error_naming_it_without_the_password() -> None:
    closed = "postgresql://toolroute:s3cret@127.0.0.1:1/tasks"
    with pytest.raises(DatabaseUnavailableError, match="cannot open") as info:
        TaskStore(closed)
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)


def test_a_server_that_goes_away_is_unavailable_then_recovers() -> None:
    # Its own server: stopping the session's one would break the other tests.
    server = PostgresServer(require_server_bindir()).start()
    store = TaskStore(server.create_database())
    try:
        store.save(a_task())
        server.stop("immediate")
        with pytest.raises(DatabaseUnavailableError, match="unavailable"):
            store.save(a_task())
        with pytest.raises(DatabaseUnavailableError):
            store.count()
        server.restart()
        # The pool's stale connections are replaced, not handed out broken.
        store.save(a_task())
        assert store.count() == 2
    finally:
        store.close()
        server.remove()
