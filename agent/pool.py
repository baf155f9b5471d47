"""The arm pool and router settings, from `toolroute.toml` or the built-in defaults.

    [router]
    policy = "thompson"                 # the default; see router.POLICY_NAMES
    [router.params.sla]                 # any policy's parameters, used when it is active
    beta = 0.1

    [reward]                            # R = accuracy·acc − cost·cost_norm − latency·lat_norm
    accuracy = 1.0
    cost = 0.2
    latency = 0.2
    [reward.scale]
    cost_ref_usd = 0.001

    [arms.gemma]
    type = "llamacpp"                   # template | llamacpp | transformers | openai | moa | replay
    model = "/models/gemma.gguf"        # default: the bundled Gemma 3 270M
    price = { per_hour = 0.10 }         # local arms: $ per compute hour
    routed = true                       # false: only used when asked for by name

    [arms.gpt]
    type = "openai"
    model = "gpt-4o-mini"
    mode = "chat"
    api_key_env = "OPENAI_API_KEY"      # the key is read from this variable, never the file
    price = { input_per_1k = 0.00015, output_per_1k = 0.0006 }
    endpoints = [{ url = "https://api.openai.com/v1", region = "us" }]

    [arms.mix]
    type = "moa"
    proposers = ["gemma@0.0", "gemma@0.8", "template"]
    mode = "vote"                       # or "aggregate" with aggregator = "gemma"

    [arms.gorilla]
    type = "replay"                     # recorded answers; default: Gorilla 7B zero-shot
    responses = { torchhub = "response_torchhub.jsonl" }  # hub -> {question_id, text} file
    recordings = ["other_system.jsonl"] # {query, text} lines
    latency_s = 0.9                     # reported per answer
    price = { input_per_1k = 0.0002, output_per_1k = 0.0002 }

Without a file the pool is `template`, `llamacpp` and `moa` (a vote of the llamacpp arm
at two temperatures and the template), all routed, plus `transformers` (available by name,
not routed: it loads for ~50 s), `gorilla` (the recorded Gorilla 7B answers to the APIBench
questions, not routed), plus `openai` when `TOOLROUTE_OPENAI_BASE_URL` is set.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from agent.arms.base import Arm, Price
from agent.errors import ConfigError, UnknownArmError
from router import DEFAULT_POLICY, RewardScale, RewardWeights

if TYPE_CHECKING:
    from agent.settings import Settings

# A 2-vCPU cloud instance, roughly: what a second of local compute is charged at.
DEFAULT_LOCAL_PER_HOUR = 0.10


class _ArmSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routed: bool = True
    price: Price | None = None


class TemplateSpec(_ArmSpec):
    type: Literal["template"]


class LlamaCppSpec(_ArmSpec):
    type: Literal["llamacpp"]
    model: str | None = None
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(128, ge=1)
    constrained: bool = True
    seed: int = 0


class TransformersSpec(_ArmSpec):
    type: Literal["transformers"]
    model: str | None = None
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(96, ge=1)
    constrained: bool = True
    n_threads: int | None = Field(None, ge=1)


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    region: str | None = None


class OpenAISpec(_ArmSpec):
    type: Literal["openai"]
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


class MoASpec(_ArmSpec):
    type: Literal["moa"]
    proposers: list[str] = Field(min_length=1)
    mode: Literal["vote", "aggregate"] = "vote"
    aggregator: str | None = None
    layers: int = Field(1, ge=1)


class ReplaySpec(_ArmSpec):
    type: Literal["replay"]
    # hub -> APIBench responses file ({question_id, text}); none: Gorilla 7B zero-shot.
    responses: dict[str, str] | None = None
    recordings: list[str] = Field(default_factory=list)  # files of {query, text}
    latency_s: float = Field(0.0, ge=0)  # the recorded system's latency, reported per call


# The shipped Gorilla answers, priced and timed as a 7B model served on one cloud GPU:
# about 0.9 s per answer, $0.20 per million tokens.
GORILLA_LATENCY_S = 0.9
GORILLA_PRICE = Price(input_per_1k=0.0002, output_per_1k=0.0002)

ArmSpec = Annotated[
    TemplateSpec | LlamaCppSpec | TransformersSpec | OpenAISpec | MoASpec | ReplaySpec,
    Field(discriminator="type"),
]
ARM_TYPES: tuple[str, ...] = ("template", "llamacpp", "transformers", "openai", "moa", "replay")


class RouterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = DEFAULT_POLICY
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seed: int | None = None


class RewardSpec(RewardWeights):
    scale: RewardScale = Field(default_factory=RewardScale)

    def weights(self) -> RewardWeights:
        return RewardWeights(accuracy=self.accuracy, cost=self.cost, latency=self.latency)


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arms: dict[str, ArmSpec]
    router: RouterSpec = Field(default_factory=RouterSpec)
    reward: RewardSpec = Field(default_factory=RewardSpec)
    local_per_hour: float = Field(DEFAULT_LOCAL_PER_HOUR, ge=0)

    def routed_arms(self) -> list[str]:
        return [name for name, spec in self.arms.items() if spec.routed]


def default_pool(settings: Settings) -> PoolConfig:
    arms: dict[str, Any] = {
        "template": {"type": "template"},
        "llamacpp": {"type": "llamacpp"},
        "moa": {
            "type": "moa",
            "proposers": ["llamacpp@0.0", "llamacpp@0.8", "template"],
            "mode": "vote",
        },
        "transformers": {"type": "transformers", "routed": False},
        # Answers only the APIBench questions: for evaluation, not routed in the service.
        "gorilla": {
            "type": "replay",
            "routed": False,
            "latency_s": GORILLA_LATENCY_S,
            "price": GORILLA_PRICE.model_dump(),
        },
    }
    if settings.openai_base_url:
        arms["openai"] = {
            "type": "openai",
            "model": settings.openai_model,
            "mode": settings.openai_mode,
            "endpoints": [{"url": settings.openai_base_url}],
        }
    return PoolConfig.model_validate({"arms": arms})


def load_pool(settings: Settings) -> PoolConfig:
    path = settings.config_path
    if path is None:
        return default_pool(settings)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if "arms" not in data:
        data["arms"] = default_pool(settings).model_dump(exclude_none=True)["arms"]
    try:
        config = PoolConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from exc
    if not config.routed_arms():
        raise ConfigError(f"{path}: no arm is routed")
    return config


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" + (
        f" ({exc.error_count()} errors)" if exc.error_count() > 1 else ""
    )


class ArmPool:
    """The arms, built lazily by name (a model loads when its arm is first used).

    `extra` adds ready-made arms (routed) beside the configured ones: how tests bring
    fake arms, and how a program embeds an arm of its own.
    """

    def __init__(
        self, config: PoolConfig, settings: Settings, extra: Mapping[str, Arm] | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        self._extra = dict(extra or {})
        self._arms: dict[str, Arm] = dict(self._extra)
        self._building: set[str] = set()
        # Re-entrant: building a MoA arm gets its member arms on the same thread. Other
        # threads wait, so one thread's arm under construction is never taken by another
        # for a cycle (or built twice: a model loaded twice).
        self._build_lock = threading.RLock()

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.config.arms, *self._extra]))

    @property
    def routed(self) -> list[str]:
        return list(dict.fromkeys([*self.config.routed_arms(), *self._extra]))

    def get(self, name: str) -> Arm:
        if name in self._arms:
            return self._arms[name]
        if name not in self.config.arms:
            raise UnknownArmError(name, self.names)
        with self._build_lock:
            if name not in self._arms:
                if name in self._building:
                    raise ConfigError(f"arm {name!r} is part of its own mixture")
                self._building.add(name)
                try:
                    self._arms[name] = self._build(name, self.config.arms[name])
                finally:
                    self._building.discard(name)
            return self._arms[name]

    def close(self) -> None:
        for arm in self._arms.values():
            arm.close()
        self._arms.clear()

    def _price(self, spec: _ArmSpec, local: bool) -> Price:
        if spec.price is not None:
            return spec.price
        return Price(per_hour=self.config.local_per_hour) if local else Price()

    def _build(self, name: str, spec: Any) -> Arm:
        from agent.models import resolve_model_path

        data_dir = self.settings.data_dir
        if isinstance(spec, TemplateSpec):
            from agent.arms.template import TemplateArm

            return TemplateArm(name, spec.price or Price())
        if isinstance(spec, LlamaCppSpec):
            from agent.arms.llamacpp import LlamaCppArm

            return LlamaCppArm(
                name,
                resolve_model_path(spec.model, data_dir),
                price=self._price(spec, local=True),
                n_ctx=spec.n_ctx,
                n_threads=spec.n_threads,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                constrained=spec.constrained,
                seed=spec.seed,
            )
        if isinstance(spec, TransformersSpec):
            from agent.arms.transformers import TransformersArm

            model = (
                Path(spec.model).expanduser() if spec.model else resolve_model_path(None, data_dir)
            )
            if spec.model and not model.exists():
                raise ConfigError(f"{name}: model not found: {model}")
            return TransformersArm(
                name,
                model,
                price=self._price(spec, local=True),
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                constrained=spec.constrained,
                n_threads=spec.n_threads,
            )
        if isinstance(spec, OpenAISpec):
            from agent.arms.openai import OpenAIArm

            return OpenAIArm(
                name,
                [(e.url, e.region) for e in spec.endpoints],
                model=spec.model,
                api_key=self._api_key(spec),
                mode=spec.mode,
                grammar=spec.grammar,
                price=self._price(spec, local=False),
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                timeout_s=spec.timeout_s,
                connect_timeout_s=spec.connect_timeout_s,
                cooldown_s=spec.cooldown_s,
            )
        if isinstance(spec, ReplaySpec):
            from agent.arms.replay import ReplayArm

            return ReplayArm(
                name,
                responses=(
                    {hub: Path(p).expanduser() for hub, p in spec.responses.items()}
                    if spec.responses is not None
                    else None
                ),
                recordings=[Path(p).expanduser() for p in spec.recordings],
                latency_s=spec.latency_s,
                price=spec.price or Price(),
            )
        assert isinstance(spec, MoASpec)
        return self._build_moa(name, spec)

    def _api_key(self, spec: OpenAISpec) -> SecretStr | None:
        if spec.api_key_env:
            value = os.environ.get(spec.api_key_env)
            if not value:
                raise ConfigError(f"the API key variable {spec.api_key_env} is not set")
            return SecretStr(value)
        return self.settings.openai_api_key

    def _build_moa(self, name: str, spec: MoASpec) -> Arm:
        from agent.arms.moa import MoAArm, Proposer

        proposers = []
        for item in spec.proposers:
            arm_name, _, temperature = item.partition("@")
            try:
                temp = float(temperature) if temperature else None
            except ValueError as exc:
                raise ConfigError(
                    f"{name}: bad proposer {item!r} (want arm or arm@temperature)"
                ) from exc
            proposers.append(Proposer(self.get(arm_name), temp))
        aggregator = self.get(spec.aggregator) if spec.aggregator else None
        return MoAArm(
            name,
            proposers,
            mode=spec.mode,
            aggregator=aggregator,
            layers=spec.layers,
            price=spec.price,
        )
