"""The arm pool and router settings, from `toolroute.toml` or the built-in defaults.

    [router]
    policy = "thompson"                 # the default; see router.POLICY_NAMES
    [router.params.sla]                 # any policy's parameters, used when it is active
    beta = 0.1

    [reward]                            # R = accuracy·acc − cost·cost_norm − latency·lat_norm
    accuracy = 1.0
    cost = 0.2
    latency = 0.2
    [reward.scale]                      # by default cost is relative to the dearest arm's
    cost_ref_usd = 0.001                # mean per request; or a price that counts as dear

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

import threading
import tomllib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from agent.arms.base import Arm, Price
from agent.arms.registry import arm_types, parse_spec
from agent.arms.specs import ArmSpec
from agent.errors import ConfigError, UnknownArmError
from agent.jsontypes import JSONObject
from router import DEFAULT_POLICY, RewardScale, RewardWeights, Router

if TYPE_CHECKING:
    from agent.settings import Settings

# A 2-vCPU cloud instance, roughly: what a second of local compute is charged at.
DEFAULT_LOCAL_PER_HOUR = 0.10


# The shipped Gorilla answers, priced and timed as a 7B model served on one cloud GPU:
# about 0.9 s per answer, $0.20 per million tokens.
GORILLA_LATENCY_S = 0.9
GORILLA_PRICE = Price(input_per_1k=0.0002, output_per_1k=0.0002)


class RouterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = DEFAULT_POLICY
    params: dict[str, JSONObject] = Field(default_factory=dict)
    seed: int | None = None


class RewardSpec(RewardWeights):
    scale: RewardScale = Field(default_factory=RewardScale)

    def weights(self) -> RewardWeights:
        return RewardWeights(accuracy=self.accuracy, cost=self.cost, latency=self.latency)


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each table validated by its type's spec (agent.arms.registry); dumped whole.
    arms: dict[str, SerializeAsAny[ArmSpec]]
    router: RouterSpec = Field(default_factory=RouterSpec)
    reward: RewardSpec = Field(default_factory=RewardSpec)
    local_per_hour: float = Field(DEFAULT_LOCAL_PER_HOUR, ge=0)

    @field_validator("arms", mode="before")
    @classmethod
    def _typed_specs(cls, tables: object) -> object:
        if not isinstance(tables, dict):
            return tables
        return {name: parse_spec(str(name), table) for name, table in tables.items()}

    def routed_arms(self) -> list[str]:
        return [name for name, spec in self.arms.items() if spec.routed]


def default_pool(settings: Settings) -> PoolConfig:
    arms: JSONObject = {
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

    def price(self, spec: ArmSpec, *, local: bool) -> Price:
        if spec.price is not None:
            return spec.price
        return Price(per_hour=self.config.local_per_hour) if local else Price()

    def check(self) -> None:
        """Raise `MissingDependencyError` (naming the install) for any configured arm whose
        libraries are not installed: at start-up, not at the arm's first request."""
        types = arm_types()
        for name, spec in self.config.arms.items():
            types[spec.type].check(name)

    def _build(self, name: str, spec: ArmSpec) -> Arm:
        return arm_types()[spec.type].build(name, spec, self)


def open_router(settings: Settings, config: PoolConfig, *, extra: Sequence[str] = ()) -> Router:
    """The router of `settings` (its data dir, or the shared database) over the pool's
    routed arms (plus `extra`, arms a program brings), with the pool's policy, parameters,
    reward weights and scale: the one place a service `Router` is built."""
    return Router(
        list(dict.fromkeys([*config.routed_arms(), *extra])),
        settings.router_location,
        policy=config.router.policy,
        params=config.router.params,
        weights=config.reward.weights(),
        scale=config.reward.scale,
        seed=config.router.seed,
    )
