"""Arm types by name: the one place that says what `type = "..."` in toolroute.toml means.

Each type is an `ArmType`: the spec its table is validated with, a factory the pool calls
the first time the arm is used (it imports the backend then, so heavy libraries load only
for arms in use), and the modules it needs, checked when the pool opens so that a missing
library fails at start-up, naming the fix, rather than at every request. Third-party
packages add types through the `toolroute.arms` entry-point group, as simonw/llm plugins add
models:

    # pyproject.toml of your package
    [project.entry-points."toolroute.arms"]
    mybackend = "my_package.toolroute:ARM_TYPE"      # an `ArmType` named "mybackend"
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr, ValidationError

from agent.arms.base import Arm, Price
from agent.arms.specs import (
    ArmSpec,
    LlamaCppSpec,
    MoASpec,
    OpenAISpec,
    ReplaySpec,
    TemplateSpec,
    TransformersSpec,
)
from agent.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from agent.settings import Settings

log = logging.getLogger("toolroute.arms")
ENTRY_POINT_GROUP = "toolroute.arms"


class BuildContext(Protocol):
    """What a factory may ask of the pool that builds its arm."""

    settings: Settings

    def get(self, name: str) -> Arm:
        """Another arm of the pool (a mixture's members)."""
        ...

    def price(self, spec: ArmSpec, *, local: bool) -> Price:
        """The spec's price, or the pool's default for local or hosted arms."""
        ...


Factory = Callable[[str, Any, BuildContext], Arm]


@dataclass(frozen=True)
class ArmType:
    name: str
    spec: type[ArmSpec]
    build: Factory
    # Importable modules the arm needs, with the package that provides each.
    requires: Mapping[str, str] = field(default_factory=dict)

    def check(self, arm: str) -> None:
        """Raise `MissingDependencyError` if a module this type needs is not installed."""
        for module, package in self.requires.items():
            if find_spec(module) is None:
                raise MissingDependencyError(package, f"arm {arm!r} ({self.name})")


# --------------------------------------------------------------------------- built-ins


def _template(name: str, spec: TemplateSpec, ctx: BuildContext) -> Arm:
    from agent.arms.template import TemplateArm

    return TemplateArm(name, spec.price or Price())


def _llamacpp(name: str, spec: LlamaCppSpec, ctx: BuildContext) -> Arm:
    from agent.arms.llamacpp import LlamaCppArm
    from agent.models import resolve_model_path

    return LlamaCppArm(
        name,
        resolve_model_path(spec.model, ctx.settings.data_dir),
        price=ctx.price(spec, local=True),
        n_ctx=spec.n_ctx,
        n_threads=spec.n_threads,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        constrained=spec.constrained,
        seed=spec.seed,
    )


def _transformers(name: str, spec: TransformersSpec, ctx: BuildContext) -> Arm:
    from agent.arms.transformers import TransformersArm
    from agent.models import resolve_model_path

    if spec.model:
        model = Path(spec.model).expanduser()
        if not model.exists():
            raise ConfigError(f"{name}: model not found: {model}")
    else:
        model = resolve_model_path(None, ctx.settings.data_dir)
    return TransformersArm(
        name,
        model,
        price=ctx.price(spec, local=True),
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        constrained=spec.constrained,
        n_threads=spec.n_threads,
    )


def _openai(name: str, spec: OpenAISpec, ctx: BuildContext) -> Arm:
    from agent.arms.openai import OpenAIArm

    return OpenAIArm(
        name,
        [(e.url, e.region) for e in spec.endpoints],
        model=spec.model,
        api_key=_api_key(spec, ctx.settings),
        mode=spec.mode,
        grammar=spec.grammar,
        price=ctx.price(spec, local=False),
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        timeout_s=spec.timeout_s,
        connect_timeout_s=spec.connect_timeout_s,
        cooldown_s=spec.cooldown_s,
    )


def _api_key(spec: OpenAISpec, settings: Settings) -> SecretStr | None:
    if spec.api_key_env:
        value = os.environ.get(spec.api_key_env)
        if not value:
            raise ConfigError(f"the API key variable {spec.api_key_env} is not set")
        return SecretStr(value)
    return settings.openai_api_key


def _moa(name: str, spec: MoASpec, ctx: BuildContext) -> Arm:
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
        proposers.append(Proposer(ctx.get(arm_name), temp))
    aggregator = ctx.get(spec.aggregator) if spec.aggregator else None
    return MoAArm(
        name, proposers, mode=spec.mode, aggregator=aggregator, layers=spec.layers, price=spec.price
    )


def _replay(name: str, spec: ReplaySpec, ctx: BuildContext) -> Arm:
    from agent.arms.replay import ReplayArm

    responses = spec.responses
    return ReplayArm(
        name,
        responses={hub: Path(p).expanduser() for hub, p in responses.items()}
        if responses
        else None,
        recordings=[Path(p).expanduser() for p in spec.recordings],
        latency_s=spec.latency_s,
        price=spec.price or Price(),
    )


BUILTIN_TYPES: tuple[ArmType, ...] = (
    ArmType("template", TemplateSpec, _template),
    ArmType("llamacpp", LlamaCppSpec, _llamacpp, {"llama_cpp": "llama-cpp-python"}),
    ArmType(
        "transformers",
        TransformersSpec,
        _transformers,
        {"transformers": "transformers", "gguf": "gguf", "accelerate": "accelerate"},
    ),
    ArmType("openai", OpenAISpec, _openai, {"httpx": "httpx"}),
    ArmType("moa", MoASpec, _moa),
    ArmType("replay", ReplaySpec, _replay),
)


@functools.cache
def arm_types() -> dict[str, ArmType]:
    """Every arm type by name: the built-ins, then those installed packages register."""
    types = {t.name: t for t in BUILTIN_TYPES}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not take the built-in arms down
            log.warning("skipping arm type %r from %s: %s", entry.name, entry.value, exc)
            continue
        if not isinstance(loaded, ArmType) or loaded.name in types:
            log.warning("skipping arm type %r from %s: not a new ArmType", entry.name, entry.value)
            continue
        types[loaded.name] = loaded
    return types


def parse_spec(name: str, table: object) -> ArmSpec:
    """An arm's toml table validated by its type's spec (`ValueError` names the problem)."""
    if isinstance(table, ArmSpec):
        return table
    if not isinstance(table, dict):
        raise ValueError(f"arms.{name} must be a table")
    types = arm_types()
    kind = table.get("type")
    if kind not in types:
        raise ValueError(
            f"arms.{name}.type: {kind!r} is not an arm type; valid types: {', '.join(types)}"
        )
    try:
        return types[str(kind)].spec.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"arms.{name}.{where}: {error['msg']}") from None
