"""Tasks and their feedback, in SQLite (WAL), written before any reply is sent.

A task is one request through the pipeline: the query, what was retrieved, which arm the
router chose and why, the generation, the parsed call, the execution, the reward, and the
routing context (so later human feedback can train the router on the same features).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.errors import TaskNotFoundError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    query       TEXT NOT NULL,
    arm         TEXT,
    api_id      TEXT,
    status      TEXT,
    reward      REAL,
    latency_ms  REAL NOT NULL,
    cost        REAL NOT NULL,
    body        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    task_id     TEXT NOT NULL REFERENCES tasks (id),
    source      TEXT NOT NULL,
    score       INTEGER NOT NULL,
    comment     TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (task_id, source)
);
CREATE TABLE IF NOT EXISTS seen_deliveries (
    key         TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);
"""


class TaskStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A task is durable before its reply goes out: full sync on commit.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def save(self, task: dict[str, Any]) -> None:
        execution = task.get("execution") or {}
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO tasks (id, created_at, query, arm, api_id, status, reward,"
                " latency_ms, cost, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task["task_id"],
                    task["created_at"],
                    task["query"],
                    task.get("arm"),
                    task.get("api_id"),
                    execution.get("status"),
                    task.get("reward"),
                    task["latency_ms"],
                    task["cost"],
                    json.dumps(task, default=str),
                ),
            )

    def get(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._conn.execute("SELECT body FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(f"no task {task_id!r}")
        task: dict[str, Any] = json.loads(row[0])
        task["feedback"] = self.feedback(task_id)
        return task

    def recent(self, limit: int = 20, before_seq: int | None = None) -> list[dict[str, Any]]:
        """Newest first; `before_seq` pages back (the `seq` of the last task seen)."""
        query = "SELECT seq, body FROM tasks"
        params: tuple[Any, ...] = ()
        if before_seq is not None:
            query += " WHERE seq < ?"
            params = (before_seq,)
        query += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(query, (*params, limit)).fetchall()
        return [json.loads(body) | {"seq": seq} for seq, body in rows]

    def add_feedback(
        self, task_id: str, source: str, score: int, comment: str | None, created_at: str
    ) -> bool:
        """Store feedback once per task and source; False if this source already gave it."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM tasks WHERE id = ?", (task_id,)).fetchone() is None:
                raise TaskNotFoundError(f"no task {task_id!r}")
            cursor = conn.execute(
                "INSERT INTO feedback (task_id, source, score, comment, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (task_id, source) DO NOTHING",
                (task_id, source, score, comment, created_at),
            )
            return cursor.rowcount == 1

    def feedback(self, task_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT source, score, comment, created_at FROM feedback WHERE task_id = ?"
                " ORDER BY created_at",
                (task_id,),
            ).fetchall()
        return [{"source": s, "score": sc, "comment": c, "created_at": t} for s, sc, c, t in rows]

    def first_delivery(self, key: str, created_at: str) -> bool:
        """True the first time `key` (a Slack event or trigger id) is seen, False after:
        how retried and replayed deliveries are told from new ones, across restarts."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO seen_deliveries (key, created_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, created_at),
            )
            return cursor.rowcount == 1

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
