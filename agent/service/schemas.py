"""Request and response bodies: separate create / stored / public shapes per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.jsontypes import JSONObject
from agent.task import (
    AttemptRecord,
    CallRecord,
    ExecutionRecord,
    FallbackRecord,
    FeedbackRecord,
    HitRecord,
    RoutingRecord,
    SelectionRecord,
    TaskResult,
    Tokens,
)
from apidb import APIDoc
from apidb.schema import DocKind, HttpOperation
from retriever.config import MAX_K, MAX_QUERY_CHARS
from router import RewardWeights


class _Strict(BaseModel):
    # Unknown fields are a client's mistake (a typo'd option would otherwise be ignored).
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- tasks


class TaskCreate(_Strict):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, examples=["translate to French"])
    hub: str | None = Field(default=None, description="Search only this hub/provider.")
    k: int = Field(default=5, ge=1, le=MAX_K, description="How many APIs to retrieve.")
    arm: str | None = Field(default=None, description="Use this arm instead of routing.")
    policy: str | None = Field(default=None, description="Routing policy for this request.")
    weights: RewardWeights | None = Field(default=None, description="Reward weights.")
    execute: bool = Field(default=True, description="Run the call in the sandbox.")


class TaskPublic(BaseModel):
    """A task as stored: what was asked, found, chosen, generated, run and rewarded."""

    id: str
    created_at: str
    query: str
    hub: str | None = None
    k: int
    hits: list[HitRecord]
    arm: str | None
    routing: RoutingRecord | None = None
    fallbacks: list[FallbackRecord] = Field(default_factory=list)
    call: str | None
    api_id: str | None
    parse_error: str | None = None
    execution: ExecutionRecord | None
    reward: float | None
    latency_ms: float
    timings: dict[str, float] = Field(default_factory=dict)
    cost: float
    tokens: Tokens = Field(default_factory=Tokens)
    selection: SelectionRecord | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    calls: list[CallRecord] = Field(default_factory=list)
    feedback: list[FeedbackRecord] = Field(default_factory=list)

    @classmethod
    def from_task(cls, task: TaskResult) -> TaskPublic:
        return cls.model_validate({**dict(task), "id": task.task_id})


class SearchResult(BaseModel):
    query: str
    hits: list[HitRecord]


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class FeedbackCreate(_Strict):
    score: Literal[-1, 0, 1]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackResult(BaseModel):
    task_id: str
    source: str
    recorded: bool = Field(description="False when this source had already given feedback.")


# ----------------------------------------------------------------------------- APIs


class APIDocCreate(_Strict):
    """A new API doc. `version` and `updated_at` are the catalog's to set."""

    id: str = Field(min_length=1, max_length=300, pattern=r"^\S+$")
    hub: str = Field(min_length=1, max_length=100)
    kind: DocKind
    domain: str = ""
    name: str = Field(min_length=1, max_length=300)
    call: str = Field(default="", max_length=10_000)
    parameters: JSONObject | None = None
    description: str = Field(default="", max_length=20_000)
    examples: list[str] = Field(default_factory=list, max_length=50)
    source: str = ""
    http: HttpOperation | None = None
    extra: JSONObject = Field(default_factory=dict)

    def to_doc(self, doc_id: str | None = None) -> APIDoc:
        return APIDoc.model_validate(self.model_dump() | ({"id": doc_id} if doc_id else {}))


class APIDocUpdate(APIDocCreate):
    """A replacement for a stored doc; the id comes from the path (a body id must match)."""

    id: str | None = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=300, pattern=r"^\S+$"
    )


class APIDocPublic(BaseModel):
    id: str
    hub: str
    kind: DocKind
    domain: str
    name: str
    call: str
    parameters: JSONObject | None
    description: str
    examples: list[str]
    source: str
    version: int
    updated_at: datetime
    http: HttpOperation | None
    extra: JSONObject

    @classmethod
    def from_doc(cls, doc: APIDoc) -> APIDocPublic:
        return cls.model_validate(doc.model_dump())


class APIDocPage(BaseModel):
    items: list[APIDocPublic]
    next_cursor: str | None


class ImportResult(BaseModel):
    format: str
    apis: int
    added: int
    updated: int
    unchanged: int


# ----------------------------------------------------------------------------- router


class ArmStats(BaseModel):
    pulls: int
    mean_reward: float | None
    accuracy: float | None
    mean_cost: float | None
    mean_latency_ms: float | None
    infra_failures: int
    feedback_count: int
    mean_feedback: float | None
    score: float | None = Field(description="The active policy's current score for the arm.")


class RouterPublic(BaseModel):
    policy: str
    weights: RewardWeights
    arms: dict[str, ArmStats]
    policies: list[str]


class RouterUpdate(_Strict):
    policy: str | None = None
    weights: RewardWeights | None = None


# ----------------------------------------------------------------------------- health


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]


class ErrorDetail(BaseModel):
    type: str
    message: str
    request_id: str
    details: list[JSONObject] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, JSONObject]:
    """OpenAPI `responses` entries for these error statuses, all in the one error shape."""
    return {code: {"model": ErrorBody} for code in codes}
