"""`TaskResult`: one request through the pipeline, typed, frozen, made once.

The pipeline builds it; the task store writes it as JSON (`model_dump_json`) and reads it
back (`model_validate_json`, which also reads tasks stored by earlier versions: the field
names are the stored JSON's); the REST schemas, the CLI, the Slack bot, the metrics and the
benchmarks read its attributes. Nothing passes a task around as a dict.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.executor import ExecutionStatus
from agent.jsontypes import JSONObject


class _Record(BaseModel):
    # Frozen, and tolerant of fields a newer version stored.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class HitRecord(_Record):
    """One retrieved doc: its id, hub, kind, canonical call, fused score and side ranks."""

    id: str
    hub: str
    kind: str
    call: str
    score: float
    ranks: dict[str, int | None] = Field(default_factory=dict)


class RoutingRecord(_Record):
    """Which arm the policy chose, in which order it ranked them, and their scores."""

    arm: str
    policy: str
    ranking: list[str]
    scores: dict[str, float | None] = Field(default_factory=dict)


class FallbackRecord(_Record):
    """An arm that could not answer (server down, model missing): never a wrong answer."""

    arm: str
    error: str


class GenerationRecord(_Record):
    arm: str
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0
    endpoint: str | None = None
    meta: JSONObject = Field(default_factory=dict)


class ParsedCall(_Record):
    """The call as parsed (`agent.apicall.APICall.to_json`): arguments as JSON values,
    non-literal ones as `{"expr": source}`."""

    function: str
    qualified: str
    positional: list[Any] = Field(default_factory=list, alias="args")
    keywords: JSONObject = Field(default_factory=dict, alias="kwargs")
    code: str = ""
    api_id: str | None = None
    problems: list[str] = Field(default_factory=list)


class ExecutionRecord(_Record):
    status: ExecutionStatus
    output: str = ""
    trace: list[JSONObject] = Field(default_factory=list)
    executor: str = ""


class CandidateRecord(_Record):
    id: str
    similarity: float


class SelectionRecord(_Record):
    """Which APIs the selection weighed for the request, how sure it was that one fits,
    and whether it declined (nothing called)."""

    candidates: list[CandidateRecord] = Field(default_factory=list)
    confidence: float = 0.0
    declined: bool = False
    reason: str = ""


class VerificationRecord(_Record):
    passed: bool
    status: str
    grounding: dict[str, str] = Field(default_factory=dict)
    ungrounded_required: list[str] = Field(default_factory=list)
    accuracy: float = 0.0
    reason: str = ""


class AttemptRecord(_Record):
    """One candidate API tried on the way to the answer."""

    api_id: str
    arm: str | None = None
    call: str | None = None
    parse_error: str | None = None
    status: str | None = None
    verification: VerificationRecord | None = None
    latency_ms: float = 0.0
    cost: float = 0.0
    derived_from: str | None = None


class CallRecord(_Record):
    """A call the task answers with (a request may ask for several)."""

    api_id: str | None
    function: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    code: str
    status: str | None = None
    verification: VerificationRecord | None = None


class Tokens(_Record):
    in_: int = Field(0, alias="in")
    out: int = 0


class TaskContext(_Record):
    """The routing features the router chose with, kept so later feedback teaches the
    router on the same context."""

    features: list[float] | None = None


class FeedbackRecord(_Record):
    source: str
    score: int
    comment: str | None = None
    created_at: str


class TaskResult(_Record):
    task_id: str
    created_at: str
    query: str
    hub: str | None = None
    k: int = 5
    hits: list[HitRecord] = Field(default_factory=list)
    arm: str | None = None
    routing: RoutingRecord | None = None
    fallbacks: list[FallbackRecord] = Field(default_factory=list)
    generation: GenerationRecord | None = None
    call: str | None = None
    parsed_call: ParsedCall | None = None
    parse_error: str | None = None
    api_id: str | None = None
    execution: ExecutionRecord | None = None
    reward: float | None = None
    latency_ms: float = 0.0
    timings: dict[str, float] = Field(default_factory=dict)
    cost: float = 0.0
    tokens: Tokens = Field(default_factory=Tokens)
    context: TaskContext = Field(default_factory=TaskContext)
    owner: str | None = None
    selection: SelectionRecord | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    calls: list[CallRecord] = Field(default_factory=list)
    # Not part of the stored body: the store adds it when it reads a task back.
    feedback: list[FeedbackRecord] = Field(default_factory=list)

    @property
    def status(self) -> ExecutionStatus | None:
        return self.execution.status if self.execution is not None else None

    def stored_json(self) -> str:
        """The body the task store keeps (feedback lives in its own table)."""
        return self.model_dump_json(by_alias=True, exclude={"feedback"})
