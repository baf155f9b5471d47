"""What an evaluation run writes and reads back, typed.

- `ArmOutcome`: one arm's answer to one question, judged (AST verdict, strict match,
  execution, cost, latency, tokens, and the reward it would have earned);
- `Observation`: every arm's outcome on one question, with its routing features (what the
  observe step returns, from this process, a worker thread or a Ray actor);
- `PredictionLine`: one line of `predictions_<hub>.jsonl`: the served outcome, how it was
  routed and rewarded, and (with counterfactual answers) every arm's outcome. Lines written
  by earlier versions read back unchanged: the field names are the file's.

`Document` is the type of the free-form JSON documents built from these (`metrics.json`,
the study's figures): nested figures whose shape the report and plots read, and tests pin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apidb.names import ApibenchSplit

Verdict = Literal["correct", "hallucination", "error"]
RewardMode = Literal["execution", "judge"]
EvalSplit = ApibenchSplit  # the CLI offers the same names (`apidb.names`)
REWARD_MODES: tuple[RewardMode, ...] = ("execution", "judge")
# A JSON document (metrics.json and the study): free-form figures by design.
Document = dict[str, Any]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ArmOutcome(_Record):
    unavailable: bool = False  # the arm could not answer (infrastructure, never wrong)
    error: str = ""
    api_call: str | None = None
    api_id: str | None = None
    execution_status: str | None = None
    # The verification's accuracy term (ran, and the share of arguments grounded): the
    # service's reward; None in lines written before verification existed.
    verification_accuracy: float | None = None
    latency_ms: float = 0.0
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    ast: Verdict = "hallucination"
    ast_api_id: str | None = None
    strict: bool = False
    reward: float | None = None

    @classmethod
    def unavailable_because(cls, error: str) -> ArmOutcome:
        return cls(unavailable=True, error=error)

    @property
    def trains_router(self) -> bool:
        # The service's rule: an infrastructure failure is never a wrong answer, and a
        # declined request (nothing called) teaches nothing.
        return not self.unavailable and self.execution_status not in (
            None,
            "infra_error",
            "no_match",
        )


class Observation(_Record):
    question_id: int
    features: list[float]
    outcomes: dict[str, ArmOutcome]


class PredictionLine(ArmOutcome):
    question_id: int
    hub: str
    arm: str | None = None
    policy: str = ""
    reward_mode: RewardMode = "execution"
    context: list[float] | None = None  # replayed by the offline policy study
    arms: dict[str, ArmOutcome] | None = None
    # Reference arms' answers (Gorilla's released ones): scored beside the routed arms,
    # never routed, never in the regret or the policy study.
    references: dict[str, ArmOutcome] | None = None

    def to_json(self) -> str:
        unset = {name for name in ("arms", "references") if getattr(self, name) is None}
        return self.model_dump_json(exclude={"unavailable", "error"} | unset)


class RunInfo(_Record):
    """What a run was: written first (`run.json`), so a resumed run can check it."""

    arms: list[str]
    policy: str
    weights: dict[str, float]
    scale: dict[str, float | None] = Field(default_factory=dict)  # RewardScale; None: relative
    reward_mode: RewardMode = "execution"
    sample_seed: int | None = None
    limit: int | None = None
    counterfactual: bool = True
    k: int = 5
    # Runs written before splits existed evaluated every question.
    split: EvalSplit = "all"
    # The catalog's embedder, and whether it was trained on these questions (None:
    # unknown, e.g. a model tuned on a pairs file). Unset in runs written before.
    embedder: str | None = None
    contaminated: bool | None = None
    references: list[str] = Field(default_factory=list)
