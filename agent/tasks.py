"""Tasks and their feedback, written before any reply is sent.

A task is one request through the pipeline: the query, what was retrieved, which arm the
router chose and why, the generation, the parsed call, the execution, the reward, and the
routing context (so later human feedback can train the router on the same features).

The store speaks SQLAlchemy Core so one URL picks the database: SQLite (WAL, full sync) by
default, embedded and private to one process; PostgreSQL when several service instances
share their tasks. Every write is a single statement in its own transaction, so SQLite's
deferred transactions never need to upgrade a read lock (the case its busy timeout cannot
resolve) and PostgreSQL needs no explicit locking.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    exists,
    func,
    inspect,
    literal,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from agent.errors import ConfigError, DatabaseUnavailableError, TaskNotFoundError
from agent.task import FeedbackRecord, TaskResult
from apidb.database import Migration, migrate, open_engine

# The dialects the store is tested against; others may work but are refused up front.
SUPPORTED_DIALECTS = ("sqlite", "postgresql")

metadata = MetaData()

# `seq` orders tasks and pages them (`GET /v1/tasks?cursor=`); AUTOINCREMENT on SQLite keeps
# it from reusing the numbers of deleted rows, as an identity column does on PostgreSQL.
tasks_table = Table(
    "tasks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("created_at", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("arm", Text),
    Column("api_id", Text),
    Column("status", Text),
    Column("reward", Float),
    Column("latency_ms", Float, nullable=False),
    Column("cost", Float, nullable=False),
    Column("body", Text, nullable=False),
    # The API key id that asked (`local` for the CLI, `slack` for the bot): a user key
    # sees its own tasks only. NULL on tasks stored before keys had scopes: admins only.
    Column("owner", String(64)),
    Index("ix_tasks_owner", "owner"),
    sqlite_autoincrement=True,
)

feedback_table = Table(
    "feedback",
    metadata,
    Column("task_id", String(64), ForeignKey("tasks.id"), primary_key=True),
    Column("source", Text, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("comment", Text),
    Column("created_at", Text, nullable=False),
)

# Slack event and trigger ids already handled: retried and replayed deliveries are told
# from new ones across restarts and across instances.
seen_deliveries_table = Table(
    "seen_deliveries",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("created_at", Text, nullable=False),
)


def _owner_column(conn: Connection) -> None:
    """Schema 2: `tasks.owner` (the API key that asked) and its index; tables a database
    from before versions lacks are created."""
    metadata.create_all(conn)
    if "owner" not in {c["name"] for c in inspect(conn).get_columns("tasks")}:
        conn.execute(text("ALTER TABLE tasks ADD COLUMN owner VARCHAR(64)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tasks_owner ON tasks (owner)"))


# apidb.database.migrate: [0] is the first schema (task databases from before versions).
MIGRATIONS: list[Migration | None] = [None, _owner_column]


def database_url(url: str) -> URL:
    """Parse and check a task database URL; `postgresql://` means the psycopg 3 driver,
    the one toolroute installs."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"TOOLROUTE_DATABASE_URL is not a database URL: {exc}") from exc
    if parsed.get_backend_name() == "postgres":  # Heroku-style spelling
        parsed = parsed.set(drivername="postgresql")
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"TOOLROUTE_DATABASE_URL: {backend!r} is not supported; "
            "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB"
        )
    if backend == "postgresql" and "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+psycopg")  # not SQLAlchemy 2.0's psycopg2
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("TOOLROUTE_DATABASE_URL: SQLite needs a file (sqlite:///PATH)")
    return parsed


class TaskStore:
    def __init__(self, url: str | Path) -> None:
        """`url`: a SQLAlchemy URL (`sqlite:///PATH`, `postgresql://...`) or a SQLite file."""
        parsed = database_url(f"sqlite:///{url}" if isinstance(url, Path) else url)
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        # Autocommit: every write is one statement (see above), so each commits on its own;
        # FULL sync on SQLite, because a task is durable before its reply goes out.
        self.engine = open_engine(parsed, sqlite_sync="FULL")
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in
        # its busy handler (steps of up to 100 ms): queueing this process's writers on a lock
        # instead keeps the service's tail latency down. PostgreSQL takes writes concurrently.
        self._writer: AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext()
        )
        try:
            # Schema changes go through the shared, versioned scheme, under its lock.
            migrate(self.engine, "tasks", metadata, MIGRATIONS, first_schema_tables={"tasks"})
        except (OperationalError, DBAPIError) as exc:
            self.engine.dispose()
            raise DatabaseUnavailableError(
                f"cannot open the task database {self.describe()}: {_first_line(exc)}"
            ) from exc

    def describe(self) -> str:
        """The URL without its password, for logs and errors."""
        return self.url.render_as_string(hide_password=True)

    # ----------------------------------------------------------------- writes

    def save(self, task: TaskResult) -> None:
        row = {
            "id": task.task_id,
            "created_at": task.created_at,
            "query": task.query,
            "arm": task.arm,
            "api_id": task.api_id,
            "status": task.status,
            "reward": task.reward,
            "latency_ms": task.latency_ms,
            "cost": task.cost,
            "body": task.stored_json(),
            "owner": task.owner,
        }
        with self._begin() as conn:
            conn.execute(tasks_table.insert(), row)

    def add_feedback(
        self, task_id: str, source: str, score: int, comment: str | None, created_at: str
    ) -> bool:
        """Store feedback once per task and source; False if this source already gave it."""
        # One statement inserts only if the task exists and the pair is new.
        values = select(
            literal(task_id, String),
            literal(source, Text),
            literal(score, Integer),
            literal(comment, Text),
            literal(created_at, Text),
        ).where(exists().where(tasks_table.c.id == task_id))
        columns = ["task_id", "source", "score", "comment", "created_at"]
        insert = (
            self._insert(feedback_table)
            .from_select(columns, values)
            .on_conflict_do_nothing(index_elements=["task_id", "source"])
        )
        with self._begin() as conn:
            if conn.execute(insert).rowcount == 1:
                return True
            found = conn.execute(select(tasks_table.c.seq).where(tasks_table.c.id == task_id))
            if found.first() is None:
                raise TaskNotFoundError(f"no task {task_id!r}")
            return False

    def first_delivery(self, key: str, created_at: str) -> bool:
        """True the first time `key` (a Slack event or trigger id) is seen, False after:
        how retried and replayed deliveries are told from new ones, across restarts."""
        insert = (
            self._insert(seen_deliveries_table)
            .values(key=key, created_at=created_at)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        with self._begin() as conn:
            return bool(conn.execute(insert).rowcount == 1)

    # ----------------------------------------------------------------- reads

    def get(self, task_id: str, *, owner: str | None = None) -> TaskResult:
        """One task; with `owner`, only if that caller owns it (else: not found, as if it
        did not exist, so a task id tells other keys nothing)."""
        query = select(*_ROW).where(tasks_table.c.id == task_id)
        if owner is not None:
            query = query.where(tasks_table.c.owner == owner)
        with self._connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise TaskNotFoundError(f"no task {task_id!r}")
            feedback = self._feedback(conn, task_id)
        return _task(row).model_copy(update={"feedback": feedback})

    def recent(
        self, limit: int = 20, before_seq: int | None = None, *, owner: str | None = None
    ) -> list[tuple[int, TaskResult]]:
        """Newest first; `before_seq` pages back (the `seq` of the last task seen); with
        `owner`, that caller's tasks only."""
        query = select(tasks_table.c.seq, *_ROW)
        if before_seq is not None:
            query = query.where(tasks_table.c.seq < before_seq)
        if owner is not None:
            query = query.where(tasks_table.c.owner == owner)
        query = query.order_by(tasks_table.c.seq.desc()).limit(limit)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [(int(row[0]), _task(row[1:])) for row in rows]

    def approved_pairs(self) -> list[tuple[str, str]]:
        """(request, API id) of every task people approved: its feedback scores sum above
        zero and it answered with a catalog API. Training data for the embedder."""
        approved = (
            select(tasks_table.c.query, tasks_table.c.api_id)
            .join(feedback_table, feedback_table.c.task_id == tasks_table.c.id)
            .where(tasks_table.c.api_id.is_not(None))
            .group_by(tasks_table.c.seq, tasks_table.c.query, tasks_table.c.api_id)
            .having(func.sum(feedback_table.c.score) > 0)
            .order_by(tasks_table.c.seq)
        )
        with self._connect() as conn:
            return [(str(query), str(api_id)) for query, api_id in conn.execute(approved)]

    def feedback(self, task_id: str) -> list[FeedbackRecord]:
        with self._connect() as conn:
            return self._feedback(conn, task_id)

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(tasks_table)) or 0)

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _feedback(conn: Connection, task_id: str) -> list[FeedbackRecord]:
        f = feedback_table.c
        rows = conn.execute(
            select(f.source, f.score, f.comment, f.created_at)
            .where(f.task_id == task_id)
            .order_by(f.created_at)
        ).all()
        return [FeedbackRecord(source=s, score=sc, comment=c, created_at=t) for s, sc, c, t in rows]

    def _insert(self, table: Table) -> Any:
        # ON CONFLICT DO NOTHING is dialect syntax; both dialects spell it the same way.
        # Whether a row went in is its rowcount, which SQLAlchemy only keeps when asked.
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return dialect_insert(table).execution_options(preserve_rowcount=True)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction, committed (durably) before the block's caller goes on."""
        with self._writer, self._unavailable_as_error(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._unavailable_as_error(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _unavailable_as_error(self) -> Iterator[None]:
        # A database that is down or unreachable is an infrastructure failure the service
        # answers with 503; constraint and programming errors stay what they are.
        try:
            yield
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"the task database {self.describe()} is unavailable: {_first_line(exc)}"
            ) from exc


# What a task is read from: its body, and the columns that fill in what a body written by
# an older version lacks.
_ROW = (
    tasks_table.c.body,
    tasks_table.c.id,
    tasks_table.c.created_at,
    tasks_table.c.query,
    tasks_table.c.latency_ms,
    tasks_table.c.cost,
    tasks_table.c.owner,
)


def _task(row: Any) -> TaskResult:
    body, task_id, created_at, query, latency_ms, cost, owner = row
    columns = {
        "task_id": task_id,
        "created_at": created_at,
        "query": query,
        "latency_ms": latency_ms,
        "cost": cost,
        "owner": owner,
    }
    return TaskResult.model_validate(columns | json.loads(body) | {"owner": owner})


def _first_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    return str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
