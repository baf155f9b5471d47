"""`toolroute ask` end to end through every arm, in a subprocess, on the full catalog.

The openai arm talks to a real OpenAI-compatible server on loopback: llama-cpp-python's
own server, serving the same Gemma GGUF, started once per session.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port, run, run_json, write_config

QUERY = "I want to build an app that recognises objects in photos with a pretrained ResNet"
pytestmark = pytest.mark.slow


def assert_verified(task: dict[str, object], arm: str) -> None:
    assert task["arm"] == arm
    assert task["execution"]["status"] == "ok", task  # type: ignore[index]
    assert task["api_id"] in {h["id"] for h in task["hits"]}  # type: ignore[union-attr]
    for key in ("task_id", "call", "reward", "latency_ms", "cost"):
        assert key in task


@pytest.mark.parametrize("arm", ["template", "llamacpp", "moa"])
def test_ask_through_a_local_arm(data_dir: Path, arm: str) -> None:
    task = run_json(data_dir, "ask", QUERY, "--arm", arm)
    assert_verified(task, arm)
    assert task["routing"]["policy"] == f"fixed:{arm}"
    if arm == "llamacpp":
        assert task["generation"]["meta"]["constrained"] is True
        assert task["generation"]["tokens_in"] > 100 and task["cost"] > 0
    if arm == "moa":
        assert len(task["generation"]["meta"]["proposals"]) == 3
    # Stored before the reply: the task is in the database the command wrote.
    with sqlite3.connect(data_dir / "tasks.db") as conn:
        (status,) = conn.execute(
            "SELECT status FROM tasks WHERE id = ?", (task["task_id"],)
        ).fetchone()
    assert status == "ok"


def test_ask_through_transformers(data_dir: Path) -> None:
    task = run_json(data_dir, "ask", QUERY, "--arm", "transformers", "--hub", "torchhub")
    assert_verified(task, "transformers")
    assert task["generation"]["meta"]["constrained"] is True


def test_ask_through_an_openai_compatible_server(data_dir: Path, llama_server: str) -> None:
    write_config(data_dir, llama_server)
    task = run_json(data_dir, "ask", QUERY, "--arm", "remote")
    assert_verified(task, "remote")
    assert task["generation"]["endpoint"] == llama_server
    assert task["generation"]["tokens_in"] > 100
    assert task["cost"] == pytest.approx(
        task["generation"]["tokens_in"] / 1000 * 0.0001
        + task["generation"]["tokens_out"] / 1000 * 0.0002
    )


def test_a_model_server_that_is_down_falls_back_to_another_arm(data_dir: Path) -> None:
    write_config(data_dir, f"http://127.0.0.1:{free_port()}/v1")
    task = run_json(data_dir, "ask", QUERY, "--arm", "remote")
    assert [f["arm"] for f in task["fallbacks"]] == ["remote"]
    assert "unreachable" in task["fallbacks"][0]["error"]
    assert task["arm"] in {"template", "llamacpp"}
    shown = run_json(data_dir, "router", "show")
    assert shown["arms"]["remote"]["infra_failures"] == 1
    assert shown["arms"]["remote"]["pulls"] == 0


def test_routed_ask_learns_and_explains(data_dir: Path) -> None:
    first = run_json(data_dir, "ask", QUERY, "--policy", "fixed:template")
    assert first["routing"]["policy"] == "fixed:template"
    result = run(data_dir, "ask", "translate English text to French", "--policy", "ucb1")
    for label in ("arm", "call", "api", "execution", "reward"):
        assert label in result.stdout
    assert "policy ucb1" in result.stdout
    shown = run_json(data_dir, "router", "show")
    assert sum(a["pulls"] for a in shown["arms"].values()) == 2


def test_router_set_changes_settings_and_keeps_learning_and_reset_forgets_it(
    data_dir: Path,
) -> None:
    run_json(data_dir, "ask", QUERY, "--policy", "fixed:template")
    assert run_json(data_dir, "router", "show")["policy"] == "thompson"  # the default
    changed = run_json(data_dir, "router", "set", "--policy", "sla", "--weights", "1,0.5,0")
    assert changed == {
        "policy": "sla",
        "weights": {"accuracy": 1.0, "cost": 0.5, "latency": 0.0},
    }
    assert (
        "policy linucb, weights acc 1.0, cost 0.5"
        in run(data_dir, "router", "set", "--policy", "linucb").stdout
    )
    shown = run_json(data_dir, "router", "show")
    assert shown["policy"] == "linucb"
    assert shown["arms"]["template"]["pulls"] == 1
    assert "nothing to set" in run(data_dir, "router", "set", expect=2).stderr
    assert "valid names" in run(data_dir, "router", "set", "--policy", "greedy", expect=2).stderr
    assert "weights" in run(data_dir, "router", "set", "--weights", "1,2", expect=2).stderr
    assert run_json(data_dir, "router", "show")["policy"] == "linucb"  # refused: unchanged
    assert run_json(data_dir, "router", "reset") == {"reset": True}
    after_reset = run_json(data_dir, "router", "show")
    assert after_reset["policy"] == "linucb"  # reset forgets what was learned, not settings
    assert after_reset["arms"]["template"]["pulls"] == 0


def test_bad_input_is_one_clear_line(data_dir: Path) -> None:
    result = run(data_dir, "ask", QUERY, "--arm", "gpt-9", expect=2)
    assert (
        "unknown arm 'gpt-9'; valid names: gorilla, llamacpp, moa, template, transformers"
        in result.stderr
    )
    result = run(data_dir, "ask", QUERY, "--policy", "greedy", expect=2)
    assert "valid names: sla, qlearning" in result.stderr
    assert "empty" in run(data_dir, "ask", "  ", expect=2).stderr
    assert "weights" in run(data_dir, "ask", QUERY, "--weights", "1,2", expect=2).stderr
    (data_dir / "toolroute.toml").write_text("[arms.x\n")
    assert "not valid TOML" in run(data_dir, "ask", QUERY, expect=2).stderr


def test_corrupted_router_state_is_reset_with_a_warning(data_dir: Path) -> None:
    (data_dir / "router.db").write_bytes(b"garbage" * 1000)
    result = run(data_dir, "ask", QUERY, "--arm", "template", "--json")
    assert "router state" in result.stderr and "reset" in result.stderr
