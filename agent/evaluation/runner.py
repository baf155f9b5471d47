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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ArmUnavailableError, ConfigError
from agent.evaluation.observe import Observer, local_observations
from agent.evaluation.records import (
    REWARD_MODES,
    ArmOutcome,
    EvalSplit,
    Observation,
    PredictionLine,
    RewardMode,
    RunInfo,
)
from agent.pipeline import Pipeline
from agent.pool import PoolConfig, load_pool
from agent.routing import first_available, teach
from agent.settings import Settings
from apidb.bundled import APIBENCH_HUBS
from retriever import HybridRetriever
from retriever.benchmark import Question, load_questions
from retriever.tuning import is_contaminated, trained_on_splits
from router import RewardWeights, RouteContext, Router
from router.features import FEATURE_DIM
from router.reward import reward as reward_value

# (hub, the line just written, how many lines this run writes for the hub)
ProgressCallback = Callable[[str, PredictionLine, int], None]


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
    # Which questions: the held-out 80% (what published figures use), the dev 20% (what
    # choices are tuned on: `question_id % 5 == 0`), or all of them.
    split: EvalSplit = "heldout"
    # Arms of the pool answered on every question and scored beside the routed ones, but
    # never routed: the published system to compare with. None: `gorilla` if the pool has
    # it (the replay of Gorilla 7B's released answers). Needs counterfactual answers.
    references: Sequence[str] | None = None


DEFAULT_REFERENCES = ("gorilla",)


def select_questions(
    hub: str, limit: int | None, seed: int | None, split: EvalSplit = "heldout"
) -> list[Question]:
    """The split's questions in file order, or a seeded shuffle of them, then the first
    `limit`. Question ids stay the 1-based line numbers of the eval file."""
    questions = load_questions(hub, split)
    if seed is not None:
        random.Random(seed).shuffle(questions)
    return questions[:limit] if limit is not None else questions


# --------------------------------------------------------------------------- observe


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
        self.references = self._references()
        if not self.full_information and (options.workers > 1 or options.ray):
            raise ConfigError(
                "--no-counterfactual asks only the arm the router chose, which needs the "
                "router's previous update: it runs with one worker and without --ray"
            )

    def _references(self) -> list[str]:
        asked = self.options.references
        known = self.pool_config.arms
        if asked is None:  # the default: whichever of them this pool has
            chosen = [name for name in DEFAULT_REFERENCES if name in known]
        else:
            unknown = [name for name in asked if name not in known]
            if unknown:
                raise ConfigError(
                    f"unknown reference arm {unknown[0]!r}; valid names: {', '.join(known)}"
                )
            chosen = list(dict.fromkeys(asked))
        # An arm that is routed is scored as one already; answers only when every arm is
        # asked every question.
        if not self.full_information:
            return []
        return [name for name in chosen if name not in self.arms]

    def run(self, progress: ProgressCallback | None = None) -> None:
        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        self._check_resume(out)
        # Written first: a run killed half-way still says what it was, for --resume.
        (out / "run.json").write_text(self.run_info().model_dump_json(indent=2) + "\n")
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
        questions = select_questions(hub, options.limit, options.sample_seed, options.split)
        path = options.out / f"predictions_{hub}.jsonl"
        done_ids = _completed_ids(path) if options.resume else set()
        if not options.resume:
            path.unlink(missing_ok=True)
        pending = [q for q in questions if q.question_id not in done_ids]
        if self.full_information:
            asked = [*self.arms, *self.references]
            observations: Iterable[Observation] = (
                remote.observations(pending, asked)
                if remote is not None
                else local_observations(observer, pending, asked, options.workers)
            )
            lines = (
                self._route(router, q, obs.features, obs.outcomes.__getitem__, obs)
                for q, obs in zip(pending, observations, strict=True)
            )
        else:
            lines = (
                self._route(router, q, observer.features(q), _asker(observer, q), None)
                for q in pending
            )
        with path.open("a", encoding="utf-8") as sink:
            for line in lines:
                sink.write(line.to_json() + "\n")
                sink.flush()
                os.fsync(sink.fileno())  # a line on disk is a question resume skips
                if progress:
                    progress(hub, line, len(pending))

    def _route(
        self,
        router: Router,
        question: Question,
        features: list[float] | None,
        outcome_of: Callable[[str], ArmOutcome],
        observation: Observation | None,
    ) -> PredictionLine:
        """Choose, reward and teach, in question order, as the pipeline does (the same
        fallback and teaching rules, `agent.routing`); the line for the predictions file."""
        options = self.options
        weights = options.weights or router.weights
        vector = np.array(features if features is not None else np.zeros(FEATURE_DIM))
        context = RouteContext(vector, question.hub)
        selection = router.select(context, policy=options.policy, allowed=self.arms)
        served = first_available(selection.ranking, lambda arm: _available(outcome_of(arm)))
        outcome = served.value
        reward = teach(
            router,
            context,
            served.arm,
            served.failures,
            trains=outcome is not None and outcome.trains_router,
            accuracy=self._accuracy(outcome) if outcome is not None else 0.0,
            cost=outcome.cost if outcome is not None else 0.0,
            latency_s=outcome.latency_ms / 1000 if outcome is not None else 0.0,
            weights=weights,
        )
        arms = references = None
        if observation is not None:
            rewarded = {
                arm: answer.model_copy(update={"reward": self._reward(answer, weights, router)})
                for arm, answer in observation.outcomes.items()
            }
            if len(self.arms) > 1:
                arms = {arm: rewarded[arm] for arm in self.arms}
            if self.references:
                references = {arm: rewarded[arm] for arm in self.references}
        served_fields = (outcome or ArmOutcome(execution_status="infra_error")).model_dump(
            exclude={"reward", "unavailable", "error"}
        )
        return PredictionLine(
            **served_fields,
            question_id=question.question_id,
            hub=question.hub,
            arm=served.arm,
            reward=reward,
            policy=selection.policy,
            reward_mode=options.reward_mode,
            context=features,
            arms=arms,
            references=references,
        )

    def _accuracy(self, outcome: ArmOutcome) -> float:
        if self.options.reward_mode == "judge":
            return float(outcome.ast == "correct")
        if outcome.verification_accuracy is not None:
            return outcome.verification_accuracy  # what the service rewards
        return float(outcome.execution_status == "ok")

    def _reward(self, outcome: ArmOutcome, weights: RewardWeights, router: Router) -> float | None:
        if not outcome.trains_router:
            return None
        return reward_value(
            self._accuracy(outcome), outcome.cost, outcome.latency_ms / 1000, weights, router.scale
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
        current = self.run_info().model_dump()
        keys = ("arms", "policy", "weights", "reward_mode", "sample_seed", "limit",
                "counterfactual", "k", "split", "embedder", "references")  # fmt: skip
        changed = [k for k in keys if recorded.get(k) != current.get(k)]
        if changed:
            raise ConfigError(
                f"--resume with other settings than the run in {out}: {', '.join(changed)} "
                "differ; use the same options or another --out"
            )

    def run_info(self) -> RunInfo:
        weights = self.options.weights or self.pool_config.reward.weights()
        return RunInfo(
            arms=list(self.arms),
            policy=self.options.policy or self.pool_config.router.policy,
            weights=weights.model_dump(),
            scale=self.pool_config.reward.scale.model_dump(),
            reward_mode=self.options.reward_mode,
            sample_seed=self.options.sample_seed,
            limit=self.options.limit,
            counterfactual=self.full_information and len(self.arms) > 1,
            k=self.options.k,
            split=self.options.split,
            references=self.references,
            embedder=self.retriever.embedder.name,
            contaminated=is_contaminated(
                self.options.split,
                trained_on_splits(getattr(self.retriever.embedder, "path", None)),
            ),
        )


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


def _asker(observer: Observer, question: Question) -> Callable[[str], ArmOutcome]:
    return lambda arm: observer.outcome(question, arm)


def _available(outcome: ArmOutcome) -> ArmOutcome:
    """The outcome, or the arm's failure to answer raised as the pipeline would see it."""
    if outcome.unavailable:
        raise ArmUnavailableError(outcome.error)
    return outcome


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
