"""What a caller asks for (`TaskRequest`) and what the pipeline found out (`Answer`), before
anyone learned from it; `task_result` turns an answer and its reward into the stored task.

An answer holds one `PartAnswer` per part of the request (usually one; "book a flight to
Paris and find a hotel in Rome" has two), each with the selection that weighed the
candidate APIs and every attempt made on the way to its call (`agent.calls.attempts`). The
single-call view that older consumers read (`generation`, `call`, `execution`, ...) is the
first part's final attempt.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from agent.calls.select import AUTO, ToolChoice
from agent.executor import Execution
from agent.task import (
    AttemptRecord,
    CallRecord,
    ExecutionRecord,
    FallbackRecord,
    GenerationRecord,
    HitRecord,
    ParsedCall,
    RoutingRecord,
    SelectionRecord,
    TaskContext,
    TaskResult,
    Tokens,
    VerificationRecord,
)

if TYPE_CHECKING:
    from agent.apicall import APICall
    from agent.arms.base import Generation
    from agent.calls.attempts import Attempt, PartAnswer
    from agent.routing import Failure
    from agent.toolset import Toolset
    from retriever import Hit
    from router import RewardWeights, RouteContext, Selection


@dataclass(frozen=True)
class TaskRequest:
    """What a caller asks for. `arm` pins an arm instead of routing; `toolset` (a client's
    own tools) is the catalog for this request; `tool_choice` is OpenAI's (`auto` calls
    only when a tool fits); `owner` is who asked (an API key id)."""

    query: str
    hub: str | None = None
    k: int = 5
    arm: str | None = None
    policy: str | None = None
    weights: RewardWeights | None = None
    execute: bool = True
    toolset: Toolset | None = None
    owner: str | None = None
    tool_choice: ToolChoice = AUTO
    # The day relative dates count from ("tomorrow"): the date the conversation states,
    # else None for the machine's date.
    today: date | None = None


@dataclass(frozen=True, slots=True)
class ArmReward:
    """One arm's part in an answer: the reward's inputs."""

    arm: str
    accuracy: float
    cost: float
    latency_s: float


@dataclass(frozen=True)
class Answer:
    request: TaskRequest
    hits: list[Hit]
    context: RouteContext
    routing: Selection
    parts: list[PartAnswer]
    timings: dict[str, float]
    started: float
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    # ------------------------------------------------------------ the answer's calls

    @property
    def declined(self) -> bool:
        """Nothing is called: no offered API fits (or the client asked for no call)."""
        return all(part.selection.declined for part in self.parts)

    @property
    def decline_reason(self) -> str:
        return "; ".join(p.selection.reason for p in self.parts if p.selection.reason)

    @property
    def final(self) -> Attempt | None:
        """The attempt that answers the first part that was not declined."""
        for part in self.parts:
            if part.final is not None:
                return part.final
        return None

    @property
    def answering(self) -> list[Attempt]:
        """The attempts whose calls answer the request, one or more per part."""
        return [attempt for part in self.parts for attempt in part.answering]

    @property
    def attempts(self) -> list[Attempt]:
        return [attempt for part in self.parts for attempt in part.attempts]

    # ------------------------------------------------- the single-call view (older readers)

    @property
    def generation(self) -> Generation | None:
        final = self.final
        return final.generation if final is not None else None

    @property
    def call(self) -> APICall | None:
        final = self.final
        return final.call if final is not None else None

    @property
    def parse_error(self) -> str | None:
        final = self.final
        return final.parse_error if final is not None else None

    @property
    def execution(self) -> Execution | None:
        if self.declined:
            return Execution("no_match", self.decline_reason)
        final = self.final
        return final.execution if final is not None else None

    @property
    def failures(self) -> list[Failure]:
        return [f for attempt in self.attempts for f in attempt.failures]

    # ------------------------------------------------------------------- what it cost

    def spent(self, arm: str | None = None) -> tuple[float, float, int, int]:
        """(cost, latency in seconds, tokens in, tokens out) over every attempt's
        generation (only `arm`'s, when given): retries are paid for."""
        generations = [
            a.generation
            for a in self.attempts
            if a.generation is not None and (arm is None or a.generation.arm == arm)
        ]
        return (
            sum(g.cost for g in generations),
            sum(g.latency_s for g in generations),
            sum(g.tokens_in for g in generations),
            sum(g.tokens_out for g in generations),
        )

    @property
    def accuracy_of_final(self) -> float | None:
        """The final call's verification accuracy (None when it was not verified)."""
        final = self.final
        return final.verification.accuracy if final and final.verification else None

    def outcomes(self) -> list[ArmReward]:
        """What each arm that wrote a call earned: the best verification accuracy of its
        attempts (0 for a call that did not run), for everything its attempts cost. The
        arm that wrote the final call comes first. Arms whose attempts the executor could
        not judge (an infrastructure failure) are left out.

        The arm the router started with, when its call could not be verified and a
        stronger arm answered instead, earns what its choice led to: the final call's
        accuracy, for what the whole request cost. The router's choice is where to start
        the cascade, so a free arm that hands the hard requests on is worth its price (and
        one that hands everything on is not)."""
        outcomes = self._own_outcomes()
        final = self.final
        started = next((a.generation.arm for a in self.attempts if a.generation), None)
        if final is None or final.generation is None or final.verification is None:
            return outcomes
        if started is None or started == final.generation.arm:
            return outcomes
        cost, latency_s, _, _ = self.spent()
        cascade = ArmReward(started, final.verification.accuracy, cost, latency_s)
        return [cascade if o.arm == started else o for o in outcomes]

    def _own_outcomes(self) -> list[ArmReward]:
        final = self.final
        order = [final.generation.arm] if final and final.generation else []
        by_arm: dict[str, list[Attempt]] = {}
        for attempt in self.attempts:
            if attempt.generation is None or attempt.verification is None:
                continue
            if attempt.execution is not None and not attempt.execution.trains_router:
                continue
            by_arm.setdefault(attempt.generation.arm, []).append(attempt)
        order += [arm for arm in by_arm if arm not in order]
        outcomes = []
        for arm in order:
            attempts = by_arm.get(arm)
            if not attempts:
                continue
            cost, latency_s, _, _ = self.spent(arm)
            accuracy = max(a.verification.accuracy for a in attempts if a.verification)
            outcomes.append(ArmReward(arm, accuracy, cost, latency_s))
        return outcomes

    @property
    def trains_router(self) -> bool:
        """Whether this answer may teach the router: an arm answered, the call was run or
        validated, and the outcome is the arm's (not a declined request, not a failure of
        the infrastructure)."""
        execution = self.execution
        return (
            not self.declined
            and self.generation is not None
            and execution is not None
            and execution.trains_router
            and self.final is not None
            and self.final.verification is not None
        )


def task_result(answer: Answer, reward: float | None) -> TaskResult:
    """The typed task, built once from an answer and its reward."""
    request, generation, call = answer.request, answer.generation, answer.call
    execution = answer.execution
    cost, _, tokens_in, tokens_out = answer.spent()
    primary = answer.parts[0] if answer.parts else None
    return TaskResult(
        task_id=uuid.uuid4().hex,
        created_at=answer.created_at,
        query=request.query,
        hub=request.hub,
        k=request.k,
        hits=[hit_record(h) for h in answer.hits],
        arm=generation.arm if generation else None,
        routing=RoutingRecord.model_validate(answer.routing.to_json()),
        fallbacks=[FallbackRecord(arm=f.arm, error=f.error) for f in answer.failures],
        generation=GenerationRecord.model_validate(generation.to_json()) if generation else None,
        call=call.code if call else (generation.text if generation else None),
        parsed_call=ParsedCall.model_validate(call.to_json()) if call else None,
        parse_error=answer.parse_error,
        api_id=call.api_id if call else None,
        execution=ExecutionRecord.model_validate(execution.to_json()) if execution else None,
        reward=reward,
        latency_ms=_ms(answer.started),
        timings=answer.timings,
        cost=cost,
        tokens=Tokens(in_=tokens_in, out=tokens_out),
        context=TaskContext(features=_features(answer.context.features)),
        owner=request.owner,
        selection=SelectionRecord.model_validate(primary.selection.to_json()) if primary else None,
        attempts=[AttemptRecord.model_validate(a.to_json()) for a in answer.attempts],
        calls=[_call_record(a) for a in answer.answering if a.call is not None],
    )


def _call_record(attempt: Attempt) -> CallRecord:
    call = attempt.call
    assert call is not None
    verification = attempt.verification
    return CallRecord(
        api_id=call.api_id,
        function=attempt.function_name,
        arguments=attempt.arguments,
        code=call.code,
        status=attempt.execution.status if attempt.execution else None,
        verification=VerificationRecord.model_validate(verification.to_json())
        if verification
        else None,
    )


def hit_record(hit: Hit) -> HitRecord:
    """The stored form of a retrieved doc (tasks and `/v1/search` alike)."""
    return HitRecord(
        id=hit.doc.id,
        hub=hit.doc.hub,
        kind=hit.doc.kind,
        call=hit.doc.call,
        score=round(hit.score, 6),
        ranks=hit.ranks,
    )


def _features(features: Any) -> list[float] | None:
    return [float(x) for x in features] if features is not None else None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
