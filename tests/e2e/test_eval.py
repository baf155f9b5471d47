"""`toolroute eval apibench` end to end: the real command in a subprocess over the full
catalog, the real sandbox, every arm type on a small slice, and resume after a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TOOLROUTE, cli_env, run, run_json, write_config

pytestmark = pytest.mark.slow
HUBS = ("huggingface", "torchhub", "tensorflowhub")
LINE_KEYS = {"question_id", "api_call", "arm", "api_id", "execution_status", "reward",
             "latency_ms", "cost"}  # fmt: skip


# Besides template, llamacpp and remote (openai): every other arm type.
OTHER_ARMS = """
[arms.transformers]
type = "transformers"
[arms.moa]
type = "moa"
proposers = ["llamacpp@0.0", "template"]
[arms.gorilla]
type = "replay"
latency_s = 0.9
price = { input_per_1k = 0.0002, output_per_1k = 0.0002 }
"""


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_arm_type_on_a_real_slice(data_dir: Path, llama_server: str, tmp_path: Path) -> None:
    write_config(data_dir, llama_server, OTHER_ARMS)
    out = tmp_path / "report"
    arms = "template,llamacpp,transformers,remote,moa,gorilla"
    metrics = run_json(data_dir, "eval", "apibench", "--limit", "1", "--arms", arms,
                       "--out", str(out))  # fmt: skip

    for hub in HUBS:
        (prediction,) = lines(out / f"predictions_{hub}.jsonl")
        assert LINE_KEYS <= set(prediction) and prediction["question_id"] == 1
        # Every arm answered the question itself (none stood in for another).
        per_arm = metrics["hubs"][hub]["per_arm"]
        assert set(per_arm) == set(arms.split(","))
        assert all(f["n"] == 1 and f["unavailable"] == 0 for f in per_arm.values()), per_arm
        assert per_arm["llamacpp"]["tokens_in_mean"] > 100  # a real prompt went in
    assert metrics["run"]["reward_mode"] == "execution"
    assert sorted(metrics["study"]["arms"]) == sorted(arms.split(","))  # in the pool's order
    report = (out / "report.md").read_text()
    assert "Reward mode: execution" in report and "Gorilla 7B zero-shot" in report
    for plot in ("accuracy_cost", "frontier", "learning", "learning_rate"):
        assert (out / f"{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_judge_mode_with_cost_weights_is_labelled(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "judge"
    metrics = run_json(data_dir, "eval", "apibench", "--hub", "torchhub", "--limit", "5",
                       "--arms", "template,gorilla", "--policy", "ucb1", "--reward", "judge",
                       "--weights", "1,1,0", "--workers", "2", "--out", str(out))  # fmt: skip
    assert metrics["run"]["reward_mode"] == "judge" and metrics["run"]["policy"] == "ucb1"
    assert metrics["run"]["weights"] == {"accuracy": 1.0, "cost": 1.0, "latency": 0.0}
    predictions = lines(out / "predictions_torchhub.jsonl")
    # The held-out split by default (question 5 is dev); in order, although 2 workers.
    assert [p["question_id"] for p in predictions] == [1, 2, 3, 4, 6]
    assert metrics["run"]["split"] == "heldout"
    assert all(p["reward_mode"] == "judge" for p in predictions)
    report = (out / "report.md").read_text()
    assert "Reward mode: judge" in report
    # It says which questions and which model: the default embedder, trained on dev only.
    assert (metrics["run"]["embedder"], metrics["run"]["contaminated"]) == (
        "minilm-apibench",
        False,
    )
    assert "- Split: held-out" in report
    assert "`minilm-apibench`, not trained on these questions" in report


def test_resume_after_a_kill_redoes_and_loses_nothing(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    args = ["eval", "apibench", "--hub", "torchhub", "--limit", "40", "--arms", "template",
            "--no-plots", "--out", str(out), "--json"]  # fmt: skip
    env = cli_env(data_dir)
    process = subprocess.Popen([*TOOLROUTE, *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    predictions = out / "predictions_torchhub.jsonl"
    deadline = time.monotonic() + 300
    while not predictions.exists() or len(predictions.read_text().splitlines()) < 5:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = predictions.read_text().splitlines()
    assert 5 <= len(before) < 40
    with predictions.open("a") as torn:  # as if the kill had landed mid-line
        torn.write('{"question_id": 99, "api_ca')

    # Other settings than the interrupted run's are refused, not mixed in.
    refused = run(data_dir, *args[:-1], "--resume", "--policy", "ucb1", expect=2)
    assert "differ" in refused.stderr

    metrics = run_json(data_dir, *args[:-1], "--resume")
    after = predictions.read_text().splitlines()
    assert after[: len(before)] == before  # what was written stays as it was
    held_out = [qid for qid in range(1, 51) if qid % 5 != 0]  # the default split
    assert [json.loads(line)["question_id"] for line in after] == held_out
    assert metrics["hubs"]["torchhub"]["served"]["n"] == 40


def test_ray_workers_write_the_same_predictions_as_one_process(
    data_dir: Path, tmp_path: Path
) -> None:
    # A private local Ray instance (`--ray local`), two actors, each with its own pipeline;
    # routing stays in the driver, in question order.
    args = ["eval", "apibench", "--hub", "tensorflowhub", "--limit", "4", "--arms",
            "template,gorilla", "--no-plots"]  # fmt: skip
    run(data_dir, *args, "--out", str(tmp_path / "here"))
    run(data_dir, *args, "--ray", "local", "--workers", "2", "--out", str(tmp_path / "ray"),
        env={"RAY_USAGE_STATS_ENABLED": "0"})  # fmt: skip

    def comparable(path: Path) -> list[dict[str, object]]:
        # Latency is measured, so it differs; everything else must not.
        rows = lines(path)
        for row in rows:
            row.pop("latency_ms")
            for answer in row["arms"].values():  # type: ignore[union-attr]
                answer.pop("latency_ms")
        return rows

    name = "predictions_tensorflowhub.jsonl"
    assert comparable(tmp_path / "ray" / name) == comparable(tmp_path / "here" / name)


def test_gorillas_answers_are_scored_beside_the_routed_arms_by_default(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reference"
    metrics = run_json(data_dir, "eval", "apibench", "--hub", "torchhub", "--limit", "3",
                       "--arms", "template,llamacpp", "--policy", "fixed:template",
                       "--no-plots", "--out", str(out))  # fmt: skip

    assert metrics["run"]["references"] == ["gorilla"]
    per_arm = metrics["hubs"]["torchhub"]["per_arm"]
    assert set(per_arm) == {"template", "llamacpp", "gorilla"}
    assert per_arm["gorilla"]["reference"] and per_arm["gorilla"]["n"] == 3
    # Never routed, never a candidate of the regret or of the policy study.
    router = metrics["hubs"]["torchhub"]["router"]
    assert set(router["served"]) == {"template"} and router["best_fixed_arm"] != "gorilla"
    assert sorted(metrics["study"]["arms"]) == ["llamacpp", "template"]
    assert "| torchhub | gorilla (reference, not routed) |" in (out / "report.md").read_text()
    (line, *_) = lines(out / "predictions_torchhub.jsonl")
    assert set(line["references"]) == {"gorilla"} and "gorilla" not in line["arms"]

    without = run_json(data_dir, "eval", "apibench", "--hub", "torchhub", "--limit", "1",
                       "--arms", "template", "--reference", "", "--no-plots",
                       "--out", str(tmp_path / "none"))  # fmt: skip
    assert without["run"]["references"] == []
    assert set(without["hubs"]["torchhub"]["per_arm"]) == {"template"}
