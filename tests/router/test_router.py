"""The persisted router: state across restarts and processes, corruption, rewards."""

from __future__ import annotations

import json
import logging
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from router import RewardScale, RewardWeights, Router, UnknownPolicyError, normalised, reward
from router.errors import PolicyConfigError
from router.features import FEATURE_DIM

ARMS = ["template", "llamacpp", "moa"]


def ctx(router: Router, hub: str = "torchhub") -> object:
    return router.context(np.ones(384), [0.8, 0.3], hub, "python")


def test_reward_weighs_accuracy_cost_and_log_latency() -> None:
    w = RewardWeights(accuracy=1.0, cost=0.5, latency=0.5)
    scale = RewardScale(cost_ref_usd=0.01, latency_floor_s=0.01, latency_ceiling_s=100.0)
    assert reward(1.0, 0.0, 0.005, w, scale) == 1.0
    assert reward(1.0, 0.005, 0.005, w, scale) == pytest.approx(0.75)
    # log scale: 1 s is half-way between 10 ms and 100 s
    assert reward(1.0, 0.0, 1.0, w, scale) == pytest.approx(0.75)
    assert reward(0.0, 1.0, 1_000.0, w, scale) == pytest.approx(-1.0)
    assert normalised(-1.0, w) == 0.0 and normalised(1.0, w) == 1.0
    assert RewardWeights.parse("1, 0.1,0") == RewardWeights(accuracy=1, cost=0.1, latency=0)
    for bad in ("1,2", "a,b,c", "0,0,0", "-1,0,0"):
        with pytest.raises((PolicyConfigError, ValueError)):
            RewardWeights.parse(bad)


def test_cost_is_relative_to_the_dearest_arm_by_default(tmp_path: Path) -> None:
    """Without a fixed reference the dearest arm's mean cost per request scores 1 and a
    free arm 0, whatever the prices' scale: local compute at cents an hour spreads the
    rewards as far as hosted tokens do."""
    scale = RewardScale()
    assert scale.cost_ref_usd is None
    assert scale.cost_norm(0.0) == 0.0 and scale.cost_norm(1e-6) == 1.0  # nothing seen yet
    assert scale.cost_norm(2e-5, dearest=4e-5) == pytest.approx(0.5)
    assert scale.cost_norm(9e-5, dearest=4e-5) == 1.0  # capped
    assert RewardScale(cost_ref_usd=0.001).cost_norm(2e-5, dearest=4e-5) == pytest.approx(0.02)

    w = RewardWeights(accuracy=1.0, cost=0.5, latency=0.0)
    router = Router(ARMS, tmp_path / "router.db", policy="ucb1", seed=0)
    assert router.update("moa", ctx(router), accuracy=1.0, cost=4e-5, latency_s=1, weights=w) == 0.5
    router.update("moa", ctx(router), accuracy=1.0, cost=4e-5, latency_s=1, weights=w)
    half = router.update("llamacpp", ctx(router), accuracy=1.0, cost=2e-5, latency_s=1, weights=w)
    free = router.update("template", ctx(router), accuracy=1.0, cost=0.0, latency_s=1, weights=w)
    assert half == pytest.approx(0.75) and free == 1.0
    router.close()

    # An arm taken out of the pool keeps its statistics but no longer sets the scale.
    wider = Router([*ARMS, "retired"], tmp_path / "wide.db", policy="ucb1", seed=0)
    wider.update("retired", ctx(wider), accuracy=1.0, cost=1.0, latency_s=1, weights=w)
    wider.close()
    narrower = Router(ARMS, tmp_path / "wide.db", policy="ucb1", seed=0)
    assert (
        narrower.update("moa", ctx(narrower), accuracy=1, cost=4e-5, latency_s=1, weights=w) == 0.5
    )
    assert (
        narrower.update("moa", ctx(narrower), accuracy=1, cost=2e-5, latency_s=1, weights=w) == 0.75
    )


def test_state_survives_a_restart(tmp_path: Path) -> None:
    router = Router(ARMS, tmp_path / "router.db", policy="ucb1", seed=0)
    for _ in range(3):
        router.update("llamacpp", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.5)
    router.update("template", ctx(router), accuracy=0.0, cost=0.0, latency_s=0.01)
    before = router.stats()
    router.close()

    again = Router(ARMS, tmp_path / "router.db", policy="sla", seed=0)
    assert again.policy == "ucb1"  # the stored setting wins over the constructor default
    assert again.stats() == before
    assert before["arms"]["llamacpp"]["pulls"] == 3
    assert before["arms"]["llamacpp"]["accuracy"] == 1.0
    assert before["arms"]["template"]["accuracy"] == 0.0


def test_every_policy_learns_from_every_outcome(tmp_path: Path) -> None:
    router = Router(ARMS, tmp_path / "router.db", policy="sla", seed=0)
    for _ in range(20):
        router.update("moa", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.02)
        router.update("template", ctx(router), accuracy=0.0, cost=0.0, latency_s=0.02)
    for name in ("sla", "qlearning", "ucb1", "linucb"):
        router.configure(policy=name)
        assert router.select(ctx(router)).ranking[-1] != "moa", name
    router.configure(policy="sla")
    scores = {arm: v["score"] for arm, v in router.stats()["arms"].items()}
    assert max(scores, key=lambda a: scores[a]) == "moa" and scores["moa"] > 0.6, scores


def test_infra_failures_are_counted_but_never_taught(tmp_path: Path) -> None:
    router = Router(ARMS, tmp_path / "router.db", seed=0)
    states = dict(
        router._read(
            lambda c: c.exec_driver_sql("SELECT name, state FROM router_policy_state").all()
        )
    )
    router.record_infra_failure("llamacpp")
    assert (
        dict(
            router._read(
                lambda c: c.exec_driver_sql("SELECT name, state FROM router_policy_state").all()
            )
        )
        == states
    )
    arm = router.stats()["arms"]["llamacpp"]
    assert arm["infra_failures"] == 1 and arm["pulls"] == 0


def test_corrupted_policy_state_is_reset_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "router.db"
    router = Router(ARMS, path, policy="ucb1", seed=0)
    router.update("moa", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.1)
    router.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE router_policy_state SET state = '{not json' WHERE name = 'ucb1'")
        conn.execute(
            "UPDATE router_policy_state SET state = ? WHERE name = 'sla'",
            (json.dumps({"arms": ARMS, "p": [1, 2]}),),
        )
        conn.execute("UPDATE router_meta SET value = 'bogus' WHERE key = 'weights'")
        conn.execute("UPDATE router_meta SET value = value + 1 WHERE key = 'version'")
    with caplog.at_level(logging.WARNING, logger="toolroute.router"):
        again = Router(ARMS, path, seed=0)
        selection = again.select(ctx(again))
    assert selection.arm in ARMS
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "ucb1 is corrupted" in messages and "sla is corrupted" in messages
    assert "weights are invalid" in messages
    assert again.weights == RewardWeights()
    assert again._policies["ucb1"].state()["n"] == [0.0, 0.0, 0.0]


def test_a_database_file_that_is_not_sqlite_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "router.db"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="toolroute.router"):
        router = Router(ARMS, path, seed=0)
    assert router.select(ctx(router)).arm in ARMS
    assert any(p.name.startswith("router.db.corrupt-") for p in tmp_path.iterdir())
    assert "unreadable" in caplog.text


def _worker(path: str, arm: str, n: int) -> None:
    router = Router(ARMS, path, policy="thompson")
    context = router.context(None, [0.5], "huggingface", "python")
    for _ in range(n):
        router.select(context)
        router.update(arm, context, accuracy=1.0, cost=0.0, latency_s=0.05)
    router.close()


def test_concurrent_updates_from_several_processes_are_never_lost(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    Router(ARMS, path, policy="thompson").close()
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_worker, args=(str(path), arm, 25)) for arm in ARMS + ARMS]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    router = Router(ARMS, path)
    stats = router.stats()["arms"]
    assert [stats[a]["pulls"] for a in ARMS] == [50, 50, 50]
    # Every policy saw every update, not just the process's own.
    assert router._policies["thompson"].state()["n"] == [50.0, 50.0, 50.0]
    assert np.trace(np.array(router._policies["linucb"].state()["a"][0])) > FEATURE_DIM


def test_bad_policy_names_and_arms_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownPolicyError, match="valid names"):
        Router(ARMS, tmp_path / "a.db", policy="best")
    router = Router(ARMS, tmp_path / "b.db")
    with pytest.raises(UnknownPolicyError, match="fixed:template"):
        router.select(ctx(router), policy="fixed:gpt9")
    with pytest.raises(PolicyConfigError, match="unknown arm"):
        router.update("gpt9", ctx(router), accuracy=1, cost=0, latency_s=1)
    with pytest.raises(PolicyConfigError, match="unknown policies"):
        Router(ARMS, tmp_path / "c.db", params={"greedy": {}})
    assert router.select(ctx(router), policy="fixed:moa").arm == "moa"


def test_configure_and_reset(tmp_path: Path) -> None:
    router = Router(ARMS, tmp_path / "r.db", seed=0)
    router.update("moa", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.1)
    router.configure(policy="linucb", weights=RewardWeights(accuracy=1, cost=1, latency=0))
    other = Router(ARMS, tmp_path / "r.db")
    assert other.policy == "linucb" and other.weights.cost == 1
    other.reset()
    assert router.stats()["arms"]["moa"]["pulls"] == 0
    assert router.policy == "linucb"


def test_an_old_router_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """router.db from before schema versions (unprefixed tables) keeps what it learned."""
    path = tmp_path / "router.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE policy_state (name TEXT PRIMARY KEY, state TEXT NOT NULL);
            CREATE TABLE arm_stats (arm TEXT PRIMARY KEY, pulls INTEGER NOT NULL DEFAULT 0,
                reward_sum REAL NOT NULL DEFAULT 0, accuracy_sum REAL NOT NULL DEFAULT 0,
                cost_sum REAL NOT NULL DEFAULT 0, latency_sum REAL NOT NULL DEFAULT 0,
                infra_failures INTEGER NOT NULL DEFAULT 0,
                feedback_count INTEGER NOT NULL DEFAULT 0,
                feedback_sum REAL NOT NULL DEFAULT 0);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO arm_stats (arm, pulls, reward_sum) VALUES ('moa', 7, 3.5);
            INSERT INTO meta VALUES ('policy', 'ucb1'), ('version', '3');
            """
        )
    conn.close()
    router = Router(ARMS, path, seed=0)
    assert router.policy == "ucb1"
    assert router.stats()["arms"]["moa"]["pulls"] == 7
    router.update("moa", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.1)
    assert router.stats()["arms"]["moa"]["pulls"] == 8
    router.close()


def test_replicas_on_one_postgresql_database_lose_no_reward(postgres_url: str) -> None:
    """Three routers (as three replicas) updating at once: every reward is counted once,
    and each one's choices see the others' rewards."""
    import threading

    replicas = [Router(ARMS, postgres_url, seed=n) for n in range(3)]
    per_replica = 40

    def serve(router: Router) -> None:
        for _ in range(per_replica):
            router.update("moa", ctx(router), accuracy=1.0, cost=0.0, latency_s=0.1)

    threads = [threading.Thread(target=serve, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for router in replicas:
        stats = router.stats()["arms"]["moa"]
        assert stats["pulls"] == 3 * per_replica
        assert stats["accuracy"] == 1.0
    # One replica's configuration is every replica's.
    replicas[0].configure(policy="thompson")
    assert {r.policy for r in replicas} == {"thompson"}
    for router in replicas:
        router.close()


def test_a_router_database_that_is_down_is_a_clear_error() -> None:
    from router.errors import RouterUnavailableError

    with pytest.raises(RouterUnavailableError, match="router's database"):
        Router(ARMS, "postgresql://nobody@127.0.0.1:1/none")
