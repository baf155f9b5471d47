"""What each built-in arm type takes in `toolroute.toml`: one pydantic model per type.

Light on purpose (pydantic only): the pool validates every arm's table at start-up, long
before any backend is imported.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.arms.base import Price


class ArmSpec(BaseModel):
    """What every arm's table may say; each type's spec adds its own fields."""

    model_config = ConfigDict(extra="forbid")

    type: str
    routed: bool = True
    price: Price | None = None


class TemplateSpec(ArmSpec):
    type: Literal["template"] = "template"


class LlamaCppSpec(ArmSpec):
    type: Literal["llamacpp"] = "llamacpp"
    model: str | None = None
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(128, ge=1)
    constrained: bool = True
    seed: int = 0


class TransformersSpec(ArmSpec):
    type: Literal["transformers"] = "transformers"
    model: str | None = None
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(96, ge=1)
    constrained: bool = True
    n_threads: int | None = Field(None, ge=1)


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    region: str | None = None


class OpenAISpec(ArmSpec):
    type: Literal["openai"] = "openai"
    model: str
    endpoints: list[EndpointSpec] = Field(min_length=1)
    mode: Literal["chat", "completions"] = "chat"
    grammar: bool = False
    api_key_env: str | None = None
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(128, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    cooldown_s: float = Field(10.0, ge=0)


class MoASpec(ArmSpec):
    type: Literal["moa"] = "moa"
    proposers: list[str] = Field(min_length=1)
    mode: Literal["vote", "aggregate"] = "vote"
    aggregator: str | None = None
    layers: int = Field(1, ge=1)


class ReplaySpec(ArmSpec):
    type: Literal["replay"] = "replay"
    # hub -> APIBench responses file ({question_id, text}); none: Gorilla 7B zero-shot.
    responses: dict[str, str] | None = None
    recordings: list[str] = Field(default_factory=list)  # files of {query, text}
    latency_s: float = Field(0.0, ge=0)  # the recorded system's latency, reported per call
