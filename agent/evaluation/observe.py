"""The observe step of an evaluation: every arm answers a question through the real
pipeline (`Pipeline.answer`, so nothing learns), and each answer is judged.

Answers do not depend on the router, so they can be computed in any order and anywhere:
here, in worker threads (`local_observations`) or in Ray actors
(`agent.evaluation.distributed`); the evaluator routes over them in question order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from agent.apicall import extract_code
from agent.evaluation.ast_match import HubMatcher
from agent.evaluation.records import ArmOutcome, Observation
from agent.pipeline import Answer, Pipeline, TaskRequest
from apidb.bundled import apibench_docs
from retriever.benchmark import GoldIndex, Question
from router.features import FEATURE_DIM


class Observer:
    """Arms answering questions through a pipeline, judged, without any learning.
    Thread-safe (the pipeline is); one per process."""

    def __init__(self, pipeline: Pipeline, hubs: Sequence[str], k: int) -> None:
        self.pipeline = pipeline
        self.k = k
        self.gold = GoldIndex(list(pipeline.store.iter_docs()))
        self.matchers = {hub: HubMatcher(hub, apibench_docs(hub)) for hub in hubs}

    def features(self, question: Question) -> list[float]:
        """The routing features alone (when the router must choose before any arm runs)."""
        _, context = self.pipeline.retrieve(question.text, hub=question.hub, k=self.k)
        return _features(context.features)

    def observe(self, question: Question, arms: Sequence[str]) -> Observation:
        answers = {arm: self._answer(question, arm) for arm in arms}
        # Every arm retrieved the same docs: its routing features are the question's.
        first = next(iter(answers.values()))
        return Observation(
            question_id=question.question_id,
            features=_features(first.context.features),
            outcomes={arm: self._judge(a, question) for arm, a in answers.items()},
        )

    def outcome(self, question: Question, arm: str) -> ArmOutcome:
        return self._judge(self._answer(question, arm), question)

    def _answer(self, question: Question, arm: str) -> Answer:
        request = TaskRequest(question.text, hub=question.hub, k=self.k, arm=arm)
        return self.pipeline.answer(request, fallbacks=False)

    def _judge(self, answer: Answer, question: Question) -> ArmOutcome:
        cost, latency_s, tokens_in, tokens_out = answer.spent()  # retries included
        if answer.declined:
            # Every APIBench question has an answer: declining is wrong, but it is not a
            # hallucination (no API was invented), so it counts as an error.
            return ArmOutcome(
                api_call="",
                execution_status="no_match",
                latency_ms=round(latency_s * 1000, 2),
                ast="error",
            )
        generation = answer.generation
        if generation is None:  # the arm could not answer (no fallback: nothing stands in)
            return ArmOutcome.unavailable_because("; ".join(f.error for f in answer.failures))
        # Judged as Gorilla judges a model: its own output (without a `[n]` doc label or a
        # code fence), not the sub-call the resolver picked out of it
        # (`joblib.load(cached_download(hf_hub_url(...)))` stays whole).
        call = answer.call
        call_text = extract_code(generation.text) or (call.code if call else "") or generation.text
        match = self.matchers[question.hub].match(call_text)
        api_id = call.api_id if call else None
        return ArmOutcome(
            api_call=call_text,
            api_id=api_id,
            execution_status=answer.execution.status if answer.execution else None,
            verification_accuracy=answer.accuracy_of_final,
            latency_ms=round(latency_s * 1000, 2),
            cost=cost,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            ast=match.verdict(question.gold_domain),
            ast_api_id=match.api_id,
            strict=api_id is not None and api_id in self.gold.gold_ids(question),
        )


def local_observations(
    observer: Observer, questions: Sequence[Question], arms: Sequence[str], workers: int
) -> Iterator[Observation]:
    """Observations in question order, `workers` questions at a time."""
    if workers == 1:
        for question in questions:
            yield observer.observe(question, arms)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="eval") as pool:
        window: list[Future[Observation]] = []
        for question in questions:
            window.append(pool.submit(observer.observe, question, arms))
            if len(window) >= 2 * workers:
                yield window.pop(0).result()
        for future in window:
            yield future.result()


def _features(values: Any) -> list[float]:
    features = values if values is not None else np.zeros(FEATURE_DIM)
    return [round(float(x), 5) for x in features]
