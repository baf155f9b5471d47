"""The pipeline with fake arms over the real small index: outcomes, fallbacks, storage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.arms.base import Price
from agent.errors import ArmUnavailableError, ConfigError, TaskNotFoundError, UnknownArmError
from agent.pipeline import Pipeline
from agent.pool import PoolConfig
from agent.settings import Settings
from retriever import HybridRetriever, QueryError
from router import RewardWeights, UnknownPolicyError
from tests.fakes import FakeArm

GOOD_CALL = "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)"
QUERY = "classify images with a ResNet-50 trained on ImageNet"


@pytest.fixture
def arms() -> dict[str, FakeArm]:
    return {"good": FakeArm("good", default=GOOD_CALL), "down": FakeArm("down")}


@pytest.fixture
def pipeline(
    retriever: HybridRetriever, small_data: Path, arms: dict[str, FakeArm]
) -> Iterator[Pipeline]:
    settings = Settings(data_dir=small_data)
    config = PoolConfig.model_validate({"arms": {"template": {"type": "template"}}})
    with Pipeline.open(settings, retriever=retriever, pool_config=config, extra_arms=arms) as p:
        yield p


def stored(pipeline: Pipeline, task_id: str) -> dict[str, object]:
    # Read with a separate connection: what another process would see.
    with sqlite3.connect(str(pipeline.tasks.url.database)) as conn:
        row = conn.execute(
            "SELECT arm, api_id, status FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    return {"arm": row[0], "api_id": row[1], "status": row[2]}


def test_a_good_call_is_ok_rewarded_and_stored(pipeline: Pipeline) -> None:
    task = pipeline.run(QUERY, arm="good")
    assert task.arm == "good"
    assert task.api_id == "torchhub/pytorch/vision/resnet50"
    assert task.execution.status == "ok"
    assert task.reward > 0.9
    assert task.hits and task.routing.policy == "fixed:good"
    assert stored(pipeline, task.task_id) == {
        "arm": "good",
        "api_id": task.api_id,
        "status": "ok",
    }
    assert pipeline.router.stats()["arms"]["good"]["pulls"] == 1


def test_routed_requests_use_the_policy_and_explain_the_choice(pipeline: Pipeline) -> None:
    task = pipeline.run(QUERY, policy="ucb1")
    assert task.routing.policy == "ucb1"
    assert set(task.routing.scores) == {"template", "good", "down"}
    assert task.arm in {"template", "good", "down"}


def test_an_arm_that_is_down_falls_back_and_is_not_taught(
    pipeline: Pipeline, arms: dict[str, FakeArm]
) -> None:
    arms["down"].enqueue(ArmUnavailableError("down: connection refused"))
    task = pipeline.run(QUERY, arm="down")
    assert [(f.arm, f.error) for f in task.fallbacks] == [("down", "down: connection refused")]
    assert task.arm != "down" and task.execution.status in ("ok", "invalid_call")
    down = pipeline.router.stats()["arms"]["down"]
    assert down["infra_failures"] == 1 and down["pulls"] == 0


def test_when_every_arm_fails_the_task_is_an_infra_error_without_reward(
    pipeline: Pipeline, arms: dict[str, FakeArm]
) -> None:
    pipeline.pool._arms["template"] = FakeArm("template").enqueue(ArmUnavailableError("t down"))
    arms["good"].enqueue(ArmUnavailableError("g down"))
    arms["down"].enqueue(ArmUnavailableError("d down"))
    task = pipeline.run(QUERY)
    assert task.execution.status == "infra_error"
    assert task.reward is None and task.arm is None
    assert len(task.fallbacks) == 3
    assert stored(pipeline, task.task_id)["status"] == "infra_error"
    assert all(a["pulls"] == 0 for a in pipeline.router.stats()["arms"].values())


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("I think you should use a ResNet.", "not a Python call"),
        ("", "no code"),
        ("pipeline('image-classification', model='acme/not-a-real-model')", "matches no API"),
    ],
)
def test_wrong_output_is_an_invalid_call_that_teaches_the_router(
    pipeline: Pipeline, arms: dict[str, FakeArm], output: str, problem: str
) -> None:
    arms["good"].enqueue(output, output, output)  # one for every candidate it falls back to
    task = pipeline.run(QUERY, arm="good")
    assert task.execution.status == "invalid_call"
    assert problem in task.execution.output
    assert task.api_id is None
    assert len(task.attempts) > 1  # each candidate was tried before giving up
    assert all(a.status == "invalid_call" for a in task.attempts)
    assert task.reward is not None and task.reward <= 0
    assert pipeline.router.stats()["arms"]["good"]["accuracy"] == 0.0


def test_a_failed_call_falls_back_to_the_next_candidate(
    pipeline: Pipeline, arms: dict[str, FakeArm]
) -> None:
    arms["good"].enqueue("I think you should use a ResNet.")  # then the good call
    task = pipeline.run(QUERY, arm="good")
    first, second = task.attempts
    assert first.status == "invalid_call" and first.api_id != second.api_id
    assert second.status == "ok" and second.verification and second.verification.passed
    assert task.execution.status == "ok" and task.calls[0].status == "ok"
    # The retry's cost and time are the task's: both generations are counted.
    assert task.tokens.out == 14


def test_per_request_weights_change_the_reward(
    pipeline: Pipeline, arms: dict[str, FakeArm]
) -> None:
    arms["good"].price = Price(output_per_1k=0.1)  # 7 tokens out: $0.0007
    plain = pipeline.run(QUERY, arm="good")
    assert plain.cost == pytest.approx(0.0007)
    free = pipeline.run(QUERY, arm="good", weights=RewardWeights(accuracy=1, cost=0, latency=0))
    assert free.reward == 1.0 > plain.reward


def test_no_execute_generates_without_teaching(pipeline: Pipeline) -> None:
    task = pipeline.run(QUERY, arm="good", execute=False)
    assert task.execution is None and task.reward is None
    assert task.api_id == "torchhub/pytorch/vision/resnet50"
    assert pipeline.router.stats()["arms"]["good"]["pulls"] == 0


def test_bad_requests_are_refused_before_anything_runs(pipeline: Pipeline) -> None:
    with pytest.raises(UnknownArmError, match="valid names: down, good, template"):
        pipeline.run(QUERY, arm="gpt-9")
    with pytest.raises(UnknownPolicyError, match="valid names"):
        pipeline.run(QUERY, policy="greedy")
    with pytest.raises(QueryError):
        pipeline.run("   ")
    with pytest.raises(QueryError):
        pipeline.run("x" * 20_000)
    with pytest.raises(QueryError):
        pipeline.run(QUERY, k=0)
    assert pipeline.tasks.count() == 0


def test_feedback_is_a_second_reward_once_per_source(pipeline: Pipeline) -> None:
    task = pipeline.run(QUERY, arm="good")
    assert pipeline.feedback(task.task_id, 1, source="slack:U1") is True
    assert pipeline.feedback(task.task_id, -1, source="slack:U1") is False
    assert pipeline.feedback(task.task_id, -1, source="api") is True
    good = pipeline.router.stats()["arms"]["good"]
    assert good["feedback_count"] == 2 and good["mean_feedback"] == 0
    assert [f.score for f in pipeline.tasks.get(task.task_id).feedback] == [1, -1]
    with pytest.raises(TaskNotFoundError):
        pipeline.feedback("nope", 1)
    with pytest.raises(ConfigError):
        pipeline.feedback(task.task_id, 5)


def test_tasks_page_newest_first(pipeline: Pipeline) -> None:
    ids = [pipeline.run(QUERY, arm="good").task_id for _ in range(3)]
    page = pipeline.tasks.recent(limit=2)
    assert [t.task_id for _, t in page] == ids[::-1][:2]
    rest = pipeline.tasks.recent(limit=2, before_seq=page[-1][0])
    assert [t.task_id for _, t in rest] == [ids[0]]


def test_the_template_arm_answers_with_the_top_hit(pipeline: Pipeline) -> None:
    task = pipeline.run(QUERY, arm="template")
    assert task.call == task.hits[0].call
    assert task.generation.tokens_in == 0 and task.cost == 0
    assert task.api_id == task.hits[0].id
