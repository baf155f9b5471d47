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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.errors import PolicyConfigError, PolicyStateError, UnknownPolicyError
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS policy_state (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS arm_stats (
    arm            TEXT PRIMARY KEY,
    pulls          INTEGER NOT NULL DEFAULT 0,
    reward_sum     REAL NOT NULL DEFAULT 0,
    accuracy_sum   REAL NOT NULL DEFAULT 0,
    cost_sum       REAL NOT NULL DEFAULT 0,
    latency_sum    REAL NOT NULL DEFAULT 0,
    infra_failures INTEGER NOT NULL DEFAULT 0,
    feedback_count INTEGER NOT NULL DEFAULT 0,
    feedback_sum   REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


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
        path: str | Path,
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
        self.path = Path(path)
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
        self._conn = self._connect()
        self._version = -1
        with self._lock:
            if self._get_meta("policy") is None:
                self._write_settings(
                    validate_policy_name(policy, self.arms), weights or RewardWeights()
                )
            self._refresh()

    # ----------------------------------------------------------------- settings

    @property
    def policy(self) -> str:
        with self._lock:
            self._refresh()
            return self._active

    @property
    def weights(self) -> RewardWeights:
        with self._lock:
            self._refresh()
            return self._weights

    def configure(self, *, policy: str | None = None, weights: RewardWeights | None = None) -> None:
        """Change the active policy and/or default reward weights (persisted)."""
        with self._lock:
            self._refresh()
            name = validate_policy_name(policy, self.arms) if policy else self._active
            self._write_settings(name, weights or self._weights)
            self._refresh()

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
            self._refresh()
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
        value = reward(accuracy, cost, latency_s, weights, self.scale)
        r01 = normalised(value, weights)
        with self._transaction() as conn:
            for policy in self._policies.values():
                policy.update(arm, context, r01)
            conn.execute(
                "INSERT INTO arm_stats"
                " (arm, pulls, reward_sum, accuracy_sum, cost_sum, latency_sum)"
                " VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT(arm) DO UPDATE SET"
                " pulls = pulls + 1, reward_sum = reward_sum + excluded.reward_sum,"
                " accuracy_sum = accuracy_sum + excluded.accuracy_sum,"
                " cost_sum = cost_sum + excluded.cost_sum,"
                " latency_sum = latency_sum + excluded.latency_sum",
                (arm, value, accuracy, cost, latency_s),
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
            conn.execute(
                "INSERT INTO arm_stats (arm, feedback_count, feedback_sum) VALUES (?, 1, ?)"
                " ON CONFLICT(arm) DO UPDATE SET feedback_count = feedback_count + 1,"
                " feedback_sum = feedback_sum + excluded.feedback_sum",
                (arm, score),
            )
            self._save_states(conn)
        return r01

    def record_infra_failure(self, arm: str) -> None:
        """The arm could not answer: counted, but never taught as a wrong answer."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO arm_stats (arm, infra_failures) VALUES (?, 1)"
                " ON CONFLICT(arm) DO UPDATE SET infra_failures = infra_failures + 1",
                (arm,),
            )

    def stats(self, context: RouteContext | None = None) -> dict[str, Any]:
        """Per-arm pulls, means and the active policy's current scores."""
        with self._lock:
            self._refresh()
            rows = {
                row[0]: row
                for row in self._conn.execute(
                    "SELECT arm, pulls, reward_sum, accuracy_sum, cost_sum, latency_sum,"
                    " infra_failures, feedback_count, feedback_sum FROM arm_stats"
                )
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
            conn.execute("DELETE FROM arm_stats")
            self._save_states(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

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

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open_db()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.warning(
                "router state %s is unreadable (%s); moved to %s and reset", self.path, exc, aside
            )
            self.path.rename(aside)
            return self._open_db()

    def _open_db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the latest state; bumps the version on success."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._refresh()
                yield conn
                self._version += 1
                self._set_meta("version", str(self._version))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._version = -1  # memory may be ahead of the database: reload next time
                raise

    def _refresh(self) -> None:
        version = int(self._get_meta("version") or 0)
        if version == self._version:
            return
        self._active = self._get_meta("policy") or DEFAULT_POLICY
        try:
            self._weights = RewardWeights.model_validate_json(self._get_meta("weights") or "{}")
        except ValueError as exc:
            logger.warning("stored reward weights are invalid (%s); using the defaults", exc)
            self._weights = RewardWeights()
        try:
            parse_policy(self._active, self.arms)
        except UnknownPolicyError:
            logger.warning("stored policy %r is unknown; using %s", self._active, DEFAULT_POLICY)
            self._active = DEFAULT_POLICY
        stored = dict(self._conn.execute("SELECT name, state FROM policy_state").fetchall())
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

    def _save_states(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO policy_state (name, state) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET state = excluded.state",
            [(name, json.dumps(p.state())) for name, p in self._policies.items()],
        )

    def _write_settings(self, policy: str, weights: RewardWeights) -> None:
        with self._transaction():
            self._set_meta("policy", policy)
            self._set_meta("weights", weights.model_dump_json())
        self._version = -1  # settings changed under the cached copy: reload them

    def _get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value
