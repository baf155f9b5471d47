"""`toolroute bench calls`: right calls, measured the way agents get them.

Every development case (`agent.calls.dataset`: one function, 2-4 functions, or none that
fits) is sent as a `/v1/chat/completions` request body with its tools, through the same
code as the endpoint (`agent.chat.completion`: prepare, the pipeline, respond), and the
reply's `tool_calls` are judged against the reference call:

- `function`: the first tool call names the right function;
- `exact`: ...and every argument is right (strings compared case- and punctuation-
  insensitively, numbers by value, an omitted argument matches its schema default), over
  every reference. About half the references hold values the request never states (a date
  range for "the past month", `AAPL` for "a stock"), which no grounded filler can copy;
  `exact_grounded` is the same share over the references whose every value the request
  states (`n_grounded` of them);
- `decline.no_call`: the share of requests no tool fits answered without a tool call;
- `relevant_called`: the share of the others that got one.

Each arm answers alone (`model: <arm>`); `routed` is the default pool under the router,
learning online from its own verification rewards in question order, from a fresh state
(a scratch directory: the service's router and tasks are never touched).
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.calls.compare import arguments_match
from agent.calls.dataset import TODAY_SAID, Case
from agent.chat.completion import prepare, respond, task_request
from agent.chat.schema import ChatCompletionRequest
from agent.jsontypes import JSONObject
from agent.pipeline import Pipeline
from agent.task import TaskResult
from agent.toolset import ToolsetCache

ROUTED = "routed"


@dataclass
class Judged:
    case: Case
    called: list[tuple[str, JSONObject]]  # (function, arguments) of each tool call
    latency_ms: float
    cost: float
    arm: str | None
    accuracy: float  # the verification's reward term for the answer (0: nothing ran)
    ran: bool  # the answer's call ran (for a client's tools: validated)

    @property
    def right_function(self) -> bool:
        expected = self.case.expected
        return expected is not None and bool(self.called) and self.called[0][0] == expected.name

    @property
    def exact(self) -> bool:
        """Right function and every argument."""
        expected = self.case.expected
        if expected is None or not self.right_function:
            return False
        schema = self.case.schema(expected.name)
        return arguments_match(self.called[0][1], expected.arguments, schema)


@dataclass
class ArmFigures:
    judged: list[Judged] = field(default_factory=list)

    def to_json(self) -> JSONObject:
        by_kind = {kind: [j for j in self.judged if j.case.kind == kind] for kind in KINDS}
        report: JSONObject = {}
        for kind in ("single", "choose"):
            cases = by_kind[kind]
            grounded = [j for j in cases if j.case.expected and j.case.expected.all_grounded]
            report[kind] = {
                "n": len(cases),
                "function": _share(j.right_function for j in cases),
                "exact": _share(j.exact for j in cases),
                "n_grounded": len(grounded),
                "exact_grounded": _share(j.exact for j in grounded),
                "extra_calls": sum(max(0, len(j.called) - 1) for j in cases),
            }
        declines = by_kind["decline"]
        report["decline"] = {"n": len(declines), "no_call": _share(not j.called for j in declines)}
        relevant = by_kind["single"] + by_kind["choose"]
        report["relevant_called"] = _share(bool(j.called) for j in relevant)
        latencies = [j.latency_ms for j in self.judged]
        report["p50_ms"] = round(statistics.median(latencies), 1) if latencies else None
        report["p95_ms"] = round(float(np.percentile(latencies, 95)), 1) if latencies else None
        report["cost"] = round(sum(j.cost for j in self.judged), 6)
        report["cost_per_1k"] = round(1000 * report["cost"] / max(1, len(self.judged)), 6)
        report["served"] = dict(Counter(j.arm or "-" for j in self.judged).most_common())
        # Does the reward tell right calls from wrong ones? ROC AUC over the relevant
        # requests of "the call is right (function and every argument)", scored by the
        # verification's accuracy term, and by "it ran" alone (what the reward was).
        right = [j.exact for j in relevant]
        report["reward_auc"] = {
            "verification": roc_auc([j.accuracy for j in relevant], right),
            "ran": roc_auc([float(j.ran) for j in relevant], right),
        }
        return report


KINDS = ("single", "choose", "decline")


def run_calls_benchmark(
    pipeline: Pipeline,
    cases: Sequence[Case],
    models: Sequence[str],
    *,
    progress: Callable[[], None] | None = None,
) -> dict[str, JSONObject]:
    """Every case through every model (an arm's name, or `routed`), in case order."""
    toolsets = ToolsetCache(pipeline.tools_embedder, pipeline.tools_config, capacity=512)
    try:
        if cases:  # warm-up: load the models, fill the caches; not counted
            _ask(pipeline, toolsets, cases[0], models[0] if models[0] != ROUTED else "template")
        figures: dict[str, JSONObject] = {}
        for model in models:
            arm_figures = ArmFigures()
            for case in cases:
                arm_figures.judged.append(_ask(pipeline, toolsets, case, model))
                if progress is not None:
                    progress()
            figures[model] = arm_figures.to_json()
        return figures
    finally:
        toolsets.close()


def _ask(pipeline: Pipeline, toolsets: ToolsetCache, case: Case, model: str) -> Judged:
    body = ChatCompletionRequest.model_validate(
        {
            "model": "toolroute" if model == ROUTED else model,
            "messages": [
                {"role": "system", "content": TODAY_SAID},
                {"role": "user", "content": case.question},
            ],
            "tools": case.tools,
        }
    )
    started = time.perf_counter()
    turn = prepare(body, pipeline.pool.names)
    task: TaskResult = pipeline.run(task_request(turn, toolsets))
    reply = respond(turn, task)
    latency_ms = (time.perf_counter() - started) * 1000
    message = reply["choices"][0]["message"]
    called = [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls") or []
    ]
    first = task.calls[0] if task.calls else None
    accuracy = first.verification.accuracy if first and first.verification else 0.0
    ran = task.execution is not None and task.execution.status == "ok"
    return Judged(case, called, latency_ms, task.cost, task.arm, accuracy, ran)


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """The probability that a random positive scores above a random negative (ties count
    half): the Mann-Whitney statistic. None without both classes."""
    positives = [s for s, label in zip(scores, labels, strict=True) if label]
    negatives = [s for s, label in zip(scores, labels, strict=True) if not label]
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return round(wins / (len(positives) * len(negatives)), 4)


def _share(values: Iterable[object]) -> float | None:
    items = [bool(v) for v in values]
    return round(sum(items) / len(items), 4) if items else None
