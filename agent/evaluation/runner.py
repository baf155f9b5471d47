"""`toolroute eval apibench`: the real pipeline over the APIBench eval questions.

For each hub, the questions (the instruction text only, never the answer) go through the
pipeline: retrieve in the question's hub, generate, execute in the sandbox; the router
chooses, is rewarded and learns online in question order. Each answer is judged with
Gorilla's AST accuracy and the strict exact-API check, and streamed to
`DIR/predictions_<hub>.jsonl` before the next line, so `--resume` picks up after the last
complete line.

Two steps per question, kept apart so that the slow one can run anywhere:

1. **observe** (`Observer`, in this process, in worker threads or in Ray actors): every
   arm answers the question, nothing learns. Answers do not depend on the router, so
   they can be computed in any order, on any machine;
2. **route** (`Evaluator`, here, strictly in question order): the router chooses from the
   question's routing features among the arms that could answer, is rewarded with the
   chosen arm's outcome only, and learns. The other arms' outcomes are the counterfactual
   answers that per-arm figures and regret are measured with (full information, as bandit
   studies replay logged outcomes).

So `--workers N` and `--ray` give the same predictions as one worker. `--no-counterfactual`
asks only the chosen arm (cheaper with slow arms; then no regret, and one worker).

Router state lives in `DIR/state/`, so a resumed run continues the same learning. One
caveat: an interruption between the router's update and the line's write makes that
question count twice for the router when it is redone.

Reward modes: `execution` (default) rewards the sandbox's verdict, as the service does;
`judge` rewards the evaluator's AST verdict (PickLLM's separate scoring function). Every
report says which.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agent.apicall import extract_code
from agent.errors import ConfigError
from agent.evaluation.ast_match import HubMatcher
from agent.pipeline import Pipeline
from agent.pool import PoolConfig, load_pool
from agent.settings import Settings
from apidb.bundled import APIBENCH_HUBS, apibench_docs
from retriever import HybridRetriever
from retriever.benchmark import GoldIndex, Question, load_questions
from router import RewardWeights, RouteContext, Router
from router.features import FEATURE_DIM
from router.reward import reward as reward_value

RewardMode = Literal["execution", "judge"]
REWARD_MODES: tuple[RewardMode, ...] = ("execution", "judge")
Observation = dict[str, Any]
# (hub, the line just written, how many lines this run writes for the hub)
ProgressCallback = Callable[[str, dict[str, Any], int], None]


@dataclass
class EvalOptions:
    out: Path
    hubs: Sequence[str] = APIBENCH_HUBS
    limit: int | None = None
    sample_seed: int | None = None
    arms: Sequence[str] | None = None  # None: the pool's routed arms
    policy: str | None = None  # a policy name or `fixed:ARM`; None: the pool's
    weights: RewardWeights | None = None
    workers: int = 1
    resume: bool = False
    reward_mode: RewardMode = "execution"
    counterfactual: bool = True
    k: int = 5
    ray: str | None = None  # a Ray address, `auto`, or `local` (start one here)


def select_questions(hub: str, limit: int | None, seed: int | None) -> list[Question]:
    """The hub's questions in file order, or a seeded shuffle of them, then the first
    `limit`. Question ids stay the 1-based line numbers of the eval file."""
    questions = load_questions(hub)
    if seed is not None:
        random.Random(seed).shuffle(questions)
    return questions[:limit] if limit is not None else questions


# --------------------------------------------------------------------------- observe


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
        tasks = {arm: self._run(question, arm) for arm in arms}
        # Every run retrieved the same docs: its routing features are the question's.
        first = next(iter(tasks.values()))
        return {
            "question_id": question.question_id,
            "features": _features((first.get("context") or {}).get("features")),
            "outcomes": {arm: self._judge(task, question, arm) for arm, task in tasks.items()},
        }

    def answer(self, question: Question, arm: str) -> dict[str, Any]:
        return self._judge(self._run(question, arm), question, arm)

    def _run(self, question: Question, arm: str) -> dict[str, Any]:
        return self.pipeline.run(
            question.text, hub=question.hub, k=self.k, arm=arm, learn=False, store=False
        )

    def _judge(self, task: dict[str, Any], question: Question, arm: str) -> dict[str, Any]:
        if task["arm"] != arm:  # the arm could not answer (learn=False: nothing stands in)
            return {"unavailable": True, "error": "; ".join(f["error"] for f in task["fallbacks"])}
        generation = task.get("generation") or {}
        # Judged as Gorilla judges a model: its own output (without a `[n]` doc label or a
        # code fence), not the sub-call the resolver picked out of it
        # (`joblib.load(cached_download(hf_hub_url(...)))` stays whole).
        call_text = extract_code(generation.get("text") or "") or task.get("call") or ""
        match = self.matchers[question.hub].match(call_text)
        api_id = task.get("api_id")
        return {
            "api_call": call_text,
            "api_id": api_id,
            "execution_status": (task.get("execution") or {}).get("status"),
            "latency_ms": float(generation.get("latency_ms", 0.0)),
            "cost": float(task.get("cost", 0.0)),
            "tokens_in": int(task["tokens"]["in"]),
            "tokens_out": int(task["tokens"]["out"]),
            "ast": match.verdict(question.gold_domain),
            "ast_api_id": match.api_id,
            "strict": api_id is not None and api_id in self.gold.gold_ids(question),
        }


def _local_observations(
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


# --------------------------------------------------------------------------- route


class Evaluator:
    def __init__(
        self, settings: Settings, retriever: HybridRetriever, options: EvalOptions
    ) -> None:
        unknown = [h for h in options.hubs if h not in APIBENCH_HUBS]
        if unknown:
            raise ConfigError(f"unknown hub {unknown[0]!r}; choose from {', '.join(APIBENCH_HUBS)}")
        if options.reward_mode not in REWARD_MODES:
            raise ConfigError(f"--reward must be one of {', '.join(REWARD_MODES)}")
        if options.workers < 1:
            raise ConfigError("--workers must be at least 1")
        self.settings = settings
        self.retriever = retriever
        self.options = options
        self.pool_config = _eval_pool(load_pool(settings), options.arms)
        self.arms = self.pool_config.routed_arms()
        self.full_information = options.counterfactual or len(self.arms) == 1
        if not self.full_information and (options.workers > 1 or options.ray):
            raise ConfigError(
                "--no-counterfactual asks only the arm the router chose, which needs the "
                "router's previous update: it runs with one worker and without --ray"
            )

    def run(self, progress: ProgressCallback | None = None) -> None:
        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        self._check_resume(out)
        # Written first: a run killed half-way still says what it was, for --resume.
        (out / "run.json").write_text(json.dumps(self.run_info(), indent=2) + "\n")
        state = out / "state"
        state.mkdir(exist_ok=True)
        eval_settings = self.settings.scratch(state)
        with Pipeline.open(
            eval_settings, retriever=self.retriever, pool_config=self.pool_config
        ) as pipeline:
            if self.options.policy:
                pipeline.router.configure(policy=self.options.policy)
            observer = Observer(pipeline, self.options.hubs, self.options.k)
            remote = self._ray_pool() if self.options.ray else None
            try:
                for hub in self.options.hubs:
                    self._run_hub(pipeline.router, observer, remote, hub, progress)
            finally:
                if remote is not None:
                    remote.close()

    def _ray_pool(self) -> Any:
        from agent.evaluation.distributed import RayObservers

        return RayObservers(
            self.options.ray or "auto",
            self.settings,
            self.pool_config,
            self.options.hubs,
            self.options.k,
            self.options.workers,
        )

    def _run_hub(
        self,
        router: Router,
        observer: Observer,
        remote: Any,
        hub: str,
        progress: ProgressCallback | None,
    ) -> None:
        options = self.options
        questions = select_questions(hub, options.limit, options.sample_seed)
        path = options.out / f"predictions_{hub}.jsonl"
        done_ids = _completed_ids(path) if options.resume else set()
        if not options.resume:
            path.unlink(missing_ok=True)
        pending = [q for q in questions if q.question_id not in done_ids]
        if self.full_information:
            observations: Iterable[Observation] = (
                remote.observations(pending, self.arms)
                if remote is not None
                else _local_observations(observer, pending, self.arms, options.workers)
            )
            lines = (
                self._route(router, q, obs["features"], obs["outcomes"].__getitem__, obs)
                for q, obs in zip(pending, observations, strict=True)
            )
        else:
            lines = (
                self._route(router, q, observer.features(q), _asker(observer, q), None)
                for q in pending
            )
        with path.open("a", encoding="utf-8") as sink:
            for line in lines:
                sink.write(json.dumps(line) + "\n")
                sink.flush()
                os.fsync(sink.fileno())  # a line on disk is a question resume skips
                if progress:
                    progress(hub, line, len(pending))

    def _route(
        self,
        router: Router,
        question: Question,
        features: list[float] | None,
        outcome_of: Callable[[str], dict[str, Any]],
        observation: Observation | None,
    ) -> dict[str, Any]:
        """Choose, reward and teach, in question order; the line for the predictions file."""
        options = self.options
        weights = options.weights or router.weights
        vector = np.array(features if features is not None else np.zeros(FEATURE_DIM))
        context = RouteContext(vector, question.hub)
        selection = router.select(context, policy=options.policy, allowed=self.arms)
        served_arm, served = None, None
        for arm in selection.ranking:  # the pipeline's fallback order
            outcome = outcome_of(arm)
            if not outcome.get("unavailable"):
                served_arm, served = arm, outcome
                break
            router.record_infra_failure(arm)
        line: dict[str, Any] = {
            "question_id": question.question_id,
            "hub": question.hub,
            "api_call": served["api_call"] if served else None,
            "arm": served_arm,
            "api_id": served["api_id"] if served else None,
            "execution_status": served["execution_status"] if served else "infra_error",
            "reward": None,
            "latency_ms": served["latency_ms"] if served else 0.0,
            "cost": served["cost"] if served else 0.0,
            "tokens_in": served["tokens_in"] if served else 0,
            "tokens_out": served["tokens_out"] if served else 0,
            "ast": served["ast"] if served else "hallucination",
            "ast_api_id": served["ast_api_id"] if served else None,
            "strict": bool(served and served["strict"]),
            "policy": selection.policy,
            "reward_mode": options.reward_mode,
            "context": features,  # replayed by the offline policy study (study.py)
        }
        if served_arm is not None and served is not None and _trains(served):
            line["reward"] = router.update(
                served_arm,
                context,
                accuracy=self._accuracy(served),
                cost=served["cost"],
                latency_s=served["latency_ms"] / 1000,
                weights=weights,
            )
        if observation is not None and len(self.arms) > 1:
            line["arms"] = {
                arm: _brief(outcome) | {"reward": self._reward(outcome, weights, router)}
                for arm, outcome in observation["outcomes"].items()
            }
        return line

    def _accuracy(self, outcome: dict[str, Any]) -> float:
        if self.options.reward_mode == "judge":
            return float(outcome["ast"] == "correct")
        return float(outcome["execution_status"] == "ok")

    def _reward(
        self, outcome: dict[str, Any], weights: RewardWeights, router: Router
    ) -> float | None:
        if outcome.get("unavailable") or not _trains(outcome):
            return None
        latency_s = outcome["latency_ms"] / 1000
        return reward_value(
            self._accuracy(outcome), outcome["cost"], latency_s, weights, router.scale
        )

    # ----------------------------------------------------------------- run files

    def _check_resume(self, out: Path) -> None:
        info_path = out / "run.json"
        if not self.options.resume:
            _clear_state(out / "state")
            return
        if not info_path.exists():
            return
        recorded = json.loads(info_path.read_text())
        current = self.run_info()
        keys = ("arms", "policy", "weights", "reward_mode", "sample_seed", "limit",
                "counterfactual", "k")  # fmt: skip
        changed = [k for k in keys if recorded.get(k) != current.get(k)]
        if changed:
            raise ConfigError(
                f"--resume with other settings than the run in {out}: {', '.join(changed)} "
                "differ; use the same options or another --out"
            )

    def run_info(self) -> dict[str, Any]:
        weights = self.options.weights or self.pool_config.reward.weights()
        return {
            "arms": list(self.arms),
            "policy": self.options.policy or self.pool_config.router.policy,
            "weights": weights.model_dump(),
            "scale": self.pool_config.reward.scale.model_dump(),
            "reward_mode": self.options.reward_mode,
            "sample_seed": self.options.sample_seed,
            "limit": self.options.limit,
            "counterfactual": self.full_information and len(self.arms) > 1,
            "k": self.options.k,
        }


def _eval_pool(config: PoolConfig, arms: Sequence[str] | None) -> PoolConfig:
    """The pool with only `arms` routed, and a router seed (the same run, the same choices)."""
    seed = config.router.seed if config.router.seed is not None else 0
    router = config.router.model_copy(update={"seed": seed})
    if not arms:
        return config.model_copy(update={"router": router})
    unknown = [a for a in arms if a not in config.arms]
    if unknown:
        raise ConfigError(f"unknown arm {unknown[0]!r}; valid names: {', '.join(config.arms)}")
    specs = {
        name: spec.model_copy(update={"routed": name in arms}) for name, spec in config.arms.items()
    }
    return config.model_copy(update={"arms": specs, "router": router})


def _features(values: Any) -> list[float]:
    features = values if values is not None else np.zeros(FEATURE_DIM)
    return [round(float(x), 5) for x in features]


def _asker(observer: Observer, question: Question) -> Callable[[str], dict[str, Any]]:
    return lambda arm: observer.answer(question, arm)


def _trains(outcome: dict[str, Any]) -> bool:
    # The service's rule: an infrastructure failure is never a wrong answer.
    return outcome.get("execution_status") not in (None, "infra_error")


def _brief(outcome: dict[str, Any]) -> dict[str, Any]:
    if outcome.get("unavailable"):
        return {"unavailable": True, "error": outcome.get("error", "")}
    keys = ("api_id", "execution_status", "latency_ms", "cost", "tokens_in", "tokens_out",
            "ast", "strict")  # fmt: skip
    return {k: outcome[k] for k in keys}


def _completed_ids(path: Path) -> set[int]:
    """Question ids already answered. A torn last line (the run was killed mid-write) is
    cut off so the file stays valid JSON Lines."""
    if not path.exists():
        return set()
    done: set[int] = set()
    good = 0
    with path.open("rb") as source:
        for raw in source:
            if not raw.endswith(b"\n"):
                break  # even if it parses: the next line would be glued to it
            try:
                done.add(int(json.loads(raw)["question_id"]))
            except (ValueError, KeyError, TypeError):
                break
            good += len(raw)
    if good < path.stat().st_size:
        with path.open("r+b") as sink:
            sink.truncate(good)
    return done


def _clear_state(state: Path) -> None:
    for name in ("router.db", "router.db-wal", "router.db-shm"):
        (state / name).unlink(missing_ok=True)
