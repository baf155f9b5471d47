"""`Router`: picks an arm per request and learns from the outcome, with state in SQLite.

Every policy in the registry learns from every outcome the router is told about (bandit
updates are off-policy for the chosen arm), so switching the active policy does not start
from nothing. The active policy chooses.

State lives in one SQLite file (WAL): each policy's JSON state, per-arm statistics and the
router's settings (active policy, reward weights), under one version counter. `select`
reloads states only when another process moved the version; `update` runs in a
`BEGIN IMMEDIATE` transaction (re-reading the latest state first), so several worker
processes can update concurrently without losing a reward. State that cannot be loaded is
reset with a warning, never a crash; so is a database file that is not SQLite at all.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from apidb.database import (
    Migration,
    database_location,
    migrate,
    open_engine,
    write_transaction,
)
from router.errors import (
    PolicyConfigError,
    PolicyStateError,
    RouterUnavailableError,
    UnknownPolicyError,
)
from router.features import FEATURE_DIM, FeatureBuilder
from router.policies import Policy, RouteContext
from router.registry import (
    DEFAULT_POLICY,
    POLICIES,
    make_policy,
    parse_policy,
    validate_policy_name,
)
from router.reward import RewardScale, RewardWeights, normalised, reward

logger = logging.getLogger("toolroute.router")

metadata = MetaData()
policy_state_table = Table(
    "router_policy_state",
    metadata,
    Column("name", Text, primary_key=True),
    Column("state", Text, nullable=False),
)
arm_stats_table = Table(
    "router_arm_stats",
    metadata,
    Column("arm", Text, primary_key=True),
    Column("pulls", Integer, nullable=False, server_default="0"),
    Column("reward_sum", Float, nullable=False, server_default="0"),
    Column("accuracy_sum", Float, nullable=False, server_default="0"),
    Column("cost_sum", Float, nullable=False, server_default="0"),
    Column("latency_sum", Float, nullable=False, server_default="0"),
    Column("infra_failures", Integer, nullable=False, server_default="0"),
    Column("feedback_count", Integer, nullable=False, server_default="0"),
    Column("feedback_sum", Float, nullable=False, server_default="0"),
)
meta_table = Table(
    "router_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
_STAT_COLUMNS = [c.name for c in arm_stats_table.columns if c.name != "arm"]


def _prefix_table_names(conn: Connection) -> None:
    """Schema 2: the router's tables get a `router_` prefix, so that they can share one
    PostgreSQL database with the catalog's (both had a `meta` table)."""
    for name in ("policy_state", "arm_stats", "meta"):
        conn.exec_driver_sql(f"ALTER TABLE {name} RENAME TO router_{name}")


# apidb.database.migrate: [0] is the first schema (router.db files from before versions).
MIGRATIONS: list[Migration | None] = [None, _prefix_table_names]
_LOCK = "router"


@dataclass(frozen=True)
class Selection:
    arm: str
    policy: str
    ranking: list[str]
    scores: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "policy": self.policy,
            "ranking": self.ranking,
            "scores": {k: _finite(v) for k, v in self.scores.items()},
        }


class Router:
    def __init__(
        self,
        arms: Sequence[str],
        location: str | Path | URL,
        *,
        policy: str = DEFAULT_POLICY,
        params: dict[str, dict[str, Any]] | None = None,
        weights: RewardWeights | None = None,
        scale: RewardScale | None = None,
        seed: int | None = None,
    ) -> None:
        if not arms:
            raise PolicyConfigError("the router needs at least one arm")
        self.arms = list(dict.fromkeys(arms))
        # A SQLite file (one instance), or a database URL: every replica that names the
        # same PostgreSQL database learns from every replica's rewards.
        self.url = database_location(location)
        self.path = (
            Path(self.url.database or "") if self.url.get_backend_name() == "sqlite" else None
        )
        self.params = params or {}
        self.scale = scale or RewardScale()
        self.seed = seed
        self.features = FeatureBuilder()
        self._lock = threading.RLock()
        unknown = set(self.params) - set(POLICIES)
        if unknown:
            raise PolicyConfigError(
                f"parameters for unknown policies: {', '.join(sorted(unknown))}"
            )
        self._policies = {name: self._fresh(name) for name in POLICIES}
        self._engine = self._connect()
        self._version = -1
        with self._lock:
            if self._read(lambda conn: _get_meta(conn, "policy")) is None:
                self._write_settings(
                    validate_policy_name(policy, self.arms), weights or RewardWeights()
                )
            self._refresh_now()

    # ----------------------------------------------------------------- settings

    @property
    def policy(self) -> str:
        with self._lock:
            self._refresh_now()
            return self._active

    @property
    def weights(self) -> RewardWeights:
        with self._lock:
            self._refresh_now()
            return self._weights

    def configure(self, *, policy: str | None = None, weights: RewardWeights | None = None) -> None:
        """Change the active policy and/or default reward weights (persisted)."""
        with self._lock:
            self._refresh_now()
            name = validate_policy_name(policy, self.arms) if policy else self._active
            self._write_settings(name, weights or self._weights)
            self._refresh_now()

    # ----------------------------------------------------------------- routing

    def context(
        self,
        query_vector: Any | None,
        scores: Sequence[float],
        hub: str | None,
        kind: str | None,
    ) -> RouteContext:
        return RouteContext(self.features.build(query_vector, scores, hub, kind), hub)

    def select(
        self,
        context: RouteContext,
        *,
        policy: str | None = None,
        allowed: Sequence[str] | None = None,
    ) -> Selection:
        with self._lock:
            self._refresh_now()
            name = validate_policy_name(policy, self.arms) if policy else self._active
            chooser = self._policy(name)
            scores = chooser.scores(context)
            ranking = chooser.rank(scores, allowed)
            return Selection(ranking[0], name, ranking, scores)

    def update(
        self,
        arm: str,
        context: RouteContext,
        *,
        accuracy: float,
        cost: float,
        latency_s: float,
        weights: RewardWeights | None = None,
    ) -> float:
        """Score the outcome, teach every policy, and return the reward."""
        self._check_arm(arm)
        weights = weights or self.weights
        with self._transaction() as conn:
            dearest = _dearest_cost(conn, self.arms)
            value = reward(accuracy, cost, latency_s, weights, self.scale, dearest=dearest)
            r01 = normalised(value, weights)
            for policy in self._policies.values():
                policy.update(arm, context, r01)
            self._add_stats(
                conn,
                arm,
                pulls=1,
                reward_sum=value,
                accuracy_sum=accuracy,
                cost_sum=cost,
                latency_sum=latency_s,
            )
            self._save_states(conn)
        return value

    def feedback(self, arm: str, context: RouteContext, score: int) -> float:
        """Human feedback (-1, 0, 1) as a second reward in [0, 1] for the arm that served."""
        if score not in (-1, 0, 1):
            raise PolicyConfigError("feedback score must be -1, 0 or 1")
        self._check_arm(arm)
        r01 = (score + 1) / 2
        with self._transaction() as conn:
            for policy in self._policies.values():
                policy.update(arm, context, r01)
            self._add_stats(conn, arm, feedback_count=1, feedback_sum=score)
            self._save_states(conn)
        return r01

    def record_infra_failure(self, arm: str) -> None:
        """The arm could not answer: counted, but never taught as a wrong answer."""
        with self._transaction() as conn:
            self._add_stats(conn, arm, infra_failures=1)

    def stats(self, context: RouteContext | None = None) -> dict[str, Any]:
        """Per-arm pulls, means and the active policy's current scores."""
        with self._lock:
            self._refresh_now()
            query = select(arm_stats_table.c.arm, *(arm_stats_table.c[c] for c in _STAT_COLUMNS))
            rows = {
                row[0]: tuple(row) for row in self._read(lambda conn: conn.execute(query).all())
            }
            active = self._policy(self._active)
            ctx = context or self.context(None, [], None, None)
            scores = active.scores(ctx)
            arms = {}
            for arm in self.arms:
                _, pulls, rsum, asum, csum, lsum, infra, fcount, fsum = rows.get(
                    arm, (arm, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0)
                )
                arms[arm] = {
                    "pulls": pulls,
                    "mean_reward": rsum / pulls if pulls else None,
                    "accuracy": asum / pulls if pulls else None,
                    "mean_cost": csum / pulls if pulls else None,
                    "mean_latency_ms": lsum / pulls * 1000 if pulls else None,
                    "infra_failures": infra,
                    "feedback_count": fcount,
                    "mean_feedback": fsum / fcount if fcount else None,
                    "score": _finite(scores.get(arm)),
                }
            return {
                "policy": self._active,
                "weights": self._weights.model_dump(),
                "arms": arms,
            }

    def reset(self) -> None:
        """Forget everything learned (settings stay)."""
        with self._transaction() as conn:
            self._policies = {name: self._fresh(name) for name in POLICIES}
            conn.execute(arm_stats_table.delete())
            self._save_states(conn)

    def close(self) -> None:
        with self._lock:
            self._engine.dispose()

    # ----------------------------------------------------------------- internals

    def _fresh(self, name: str) -> Policy:
        return make_policy(
            name, self.arms, dim=FEATURE_DIM, seed=self.seed, **self.params.get(name, {})
        )

    def _policy(self, name: str) -> Policy:
        if parse_policy(name).arm is not None:
            return make_policy(name, self.arms, dim=FEATURE_DIM, seed=self.seed)
        return self._policies[name]

    def _check_arm(self, arm: str) -> None:
        if arm not in self.arms:
            raise PolicyConfigError(f"unknown arm {arm!r}; arms: {', '.join(self.arms)}")

    def _connect(self) -> Engine:
        try:
            return self._open_db()
        except DatabaseError as exc:
            if self.path is None or not isinstance(exc.orig, sqlite3.DatabaseError):
                raise self._unavailable(exc) from exc
            # A file that is not SQLite at all: set it aside and start afresh.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.warning(
                "router state %s is unreadable (%s); moved to %s and reset", self.path, exc, aside
            )
            self.path.rename(aside)
            return self._open_db()

    def _open_db(self) -> Engine:
        engine = open_engine(self.url)
        try:
            migrate(engine, "router", metadata, MIGRATIONS, first_schema_tables={"policy_state"})
        except BaseException:
            engine.dispose()
            raise
        return engine

    def _unavailable(self, exc: SQLAlchemyError) -> RouterUnavailableError:
        where = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        inner = getattr(exc, "orig", None) or exc
        return RouterUnavailableError(f"the router's database {where}: {inner}")

    def _read(self, reading: Callable[[Connection], _T]) -> _T:
        try:
            with self._engine.connect() as conn:
                return reading(conn)
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction on the latest state, holding the router's writer lock (so
        replicas' updates queue and none is lost); bumps the version on success."""
        with self._lock:
            try:
                with write_transaction(self._engine, _LOCK) as conn:
                    try:
                        self._refresh(conn)
                        yield conn
                        self._version += 1
                        _set_meta(conn, self.dialect, "version", str(self._version))
                    except BaseException:
                        self._version = -1  # memory may be ahead of the database: reload
                        raise
            except SQLAlchemyError as exc:
                raise self._unavailable(exc) from exc

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def _refresh_now(self) -> None:
        self._read(self._refresh)

    def _refresh(self, conn: Connection) -> None:
        version = int(_get_meta(conn, "version") or 0)
        if version == self._version:
            return
        self._active = _get_meta(conn, "policy") or DEFAULT_POLICY
        try:
            self._weights = RewardWeights.model_validate_json(_get_meta(conn, "weights") or "{}")
        except ValueError as exc:
            logger.warning("stored reward weights are invalid (%s); using the defaults", exc)
            self._weights = RewardWeights()
        try:
            parse_policy(self._active, self.arms)
        except UnknownPolicyError:
            logger.warning("stored policy %r is unknown; using %s", self._active, DEFAULT_POLICY)
            self._active = DEFAULT_POLICY
        stored = dict(
            conn.execute(select(policy_state_table.c.name, policy_state_table.c.state)).all()
        )
        for name in POLICIES:
            fresh = self._fresh(name)
            if name in stored:
                try:
                    fresh.load(json.loads(stored[name]))
                except (PolicyStateError, ValueError, TypeError) as exc:
                    logger.warning(
                        "router state for %s is corrupted (%s); starting it afresh", name, exc
                    )
                    fresh = self._fresh(name)
            self._policies[name] = fresh
        self._version = version

    def _save_states(self, conn: Connection) -> None:
        for name, policy in self._policies.items():
            conn.execute(
                _upsert(
                    self.dialect,
                    policy_state_table,
                    {"name": name, "state": json.dumps(policy.state())},
                    "name",
                )
            )

    def _add_stats(self, conn: Connection, arm: str, **amounts: float) -> None:
        """Add to an arm's counters in one statement (an upsert that increments)."""
        insert = _dialect_insert(self.dialect)(arm_stats_table).values(arm=arm, **amounts)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["arm"],
                set_={name: arm_stats_table.c[name] + insert.excluded[name] for name in amounts},
            )
        )

    def _write_settings(self, policy: str, weights: RewardWeights) -> None:
        with self._transaction() as conn:
            _set_meta(conn, self.dialect, "policy", policy)
            _set_meta(conn, self.dialect, "weights", weights.model_dump_json())
        self._version = -1  # settings changed under the cached copy: reload them


_T = TypeVar("_T")


def _dearest_cost(conn: Connection, arms: Sequence[str]) -> float | None:
    """The highest mean cost per rewarded request among `arms` (None before any); an arm
    since taken out of the pool keeps its statistics but no longer sets the scale."""
    stats = arm_stats_table.c
    mean = stats.cost_sum / stats.pulls
    query = select(func.max(mean)).where(stats.pulls > 0, stats.arm.in_(list(arms)))
    value = conn.execute(query).scalar()
    return float(value) if value is not None else None


def _dialect_insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _upsert(dialect: str, table: Table, values: dict[str, Any], key: str) -> Any:
    statement = _dialect_insert(dialect)(table).values(**values)
    return statement.on_conflict_do_update(
        index_elements=[key],
        set_={name: statement.excluded[name] for name in values if name != key},
    )


def _get_meta(conn: Connection, key: str) -> str | None:
    value = conn.execute(
        select(meta_table.c.value).where(meta_table.c.key == key)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def _set_meta(conn: Connection, dialect: str, key: str, value: str) -> None:
    conn.execute(_upsert(dialect, meta_table, {"key": key, "value": value}, "key"))


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value
