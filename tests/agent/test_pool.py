from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.arms.registry import arm_types
from agent.errors import ConfigError, UnknownArmError
from agent.pool import ArmPool, PoolConfig, load_pool
from agent.settings import Settings


def settings_with(tmp_path: Path, toml: str | None, **env: str) -> Settings:
    config = None
    if toml is not None:
        config = tmp_path / "toolroute.toml"
        config.write_text(toml)
    return Settings(data_dir=tmp_path, config=config, **env)  # type: ignore[arg-type]


def test_the_default_pool_runs_offline(tmp_path: Path) -> None:
    config = load_pool(settings_with(tmp_path, None))
    assert list(config.arms) == ["template", "llamacpp", "moa", "transformers", "gorilla"]
    assert config.routed_arms() == ["template", "llamacpp", "moa"]
    assert config.router.policy == "thompson"
    with_remote = load_pool(settings_with(tmp_path, None, openai_base_url="http://127.0.0.1:9/v1"))
    assert "openai" in with_remote.routed_arms()


def test_a_toml_pool_with_every_arm_type(tmp_path: Path) -> None:
    toml = """
local_per_hour = 0.5
[router]
policy = "linucb"
[router.params.sla]
beta = 0.05
[reward]
accuracy = 1.0
cost = 0.5
latency = 0.0
[reward.scale]
cost_ref_usd = 0.01
[arms.t]
type = "template"
[arms.g]
type = "llamacpp"
temperature = 0.3
[arms.h]
type = "transformers"
routed = false
[arms.r]
type = "openai"
model = "gpt"
mode = "completions"
api_key_env = "TR_TEST_KEY"
price = { input_per_1k = 0.001, output_per_1k = 0.002 }
endpoints = [{ url = "http://a/v1", region = "eu" }, { url = "http://b/v1" }]
[arms.mix]
type = "moa"
proposers = ["t", "r@0.5"]
mode = "aggregate"
aggregator = "r"
[arms.rec]
type = "replay"
routed = false
latency_s = 0.5
"""
    config = load_pool(settings_with(tmp_path, toml))
    assert {spec.type for spec in config.arms.values()} == set(arm_types())
    assert config.routed_arms() == ["t", "g", "r", "mix"]
    assert config.reward.weights().cost == 0.5 and config.reward.scale.cost_ref_usd == 0.01
    assert config.router.params == {"sla": {"beta": 0.05}}
    pool = ArmPool(config, settings_with(tmp_path, toml))
    with pytest.raises(ConfigError, match="TR_TEST_KEY is not set"):
        pool.get("r")
    replay = pool.get("rec")
    assert replay.describe()["answers"] == 904 + 186 + 685  # Gorilla's, the default


def test_the_openai_key_comes_from_the_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TR_TEST_KEY", "sk-abc")
    toml = """
[arms.r]
type = "openai"
model = "gpt"
api_key_env = "TR_TEST_KEY"
endpoints = [{ url = "http://a/v1" }]
[arms.mix]
type = "moa"
proposers = ["r@0.2", "r@0.9"]
"""
    settings = settings_with(tmp_path, toml)
    pool = ArmPool(load_pool(settings), settings)
    mix = pool.get("mix")
    assert mix.describe()["proposers"] == ["r@0.2", "r@0.9"]
    assert pool.get("r") is pool.get("r")  # built once


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[arms.x]\ntype = 'gpt5'", "arms.x"),
        ("[arms.x]\ntype = 'template'\nbogus = 1", "bogus"),
        ("[arms.x\ntype = 'template'", "not valid TOML"),
        ("[arms.x]\ntype = 'template'\nrouted = false", "no arm is routed"),
        ("[arms.x]\ntype = 'openai'\nmodel = 'm'\nendpoints = []", "endpoints"),
        ("[arms.x]\ntype = 'llamacpp'\nn_ctx = 10", "n_ctx"),
    ],
)
def test_bad_config_files_give_clear_errors(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_pool(settings_with(tmp_path, toml))


def test_unknown_arms_and_bad_mixtures(tmp_path: Path) -> None:
    toml = """
[arms.t]
type = "template"
[arms.loop]
type = "moa"
proposers = ["loop"]
[arms.ghost]
type = "moa"
proposers = ["nobody"]
[arms.temp]
type = "moa"
proposers = ["t@hot"]
[arms.g]
type = "llamacpp"
model = "/nonexistent/model.gguf"
"""
    settings = settings_with(tmp_path, toml)
    pool = ArmPool(load_pool(settings), settings)
    with pytest.raises(UnknownArmError, match="valid names: g, ghost, loop, t, temp"):
        pool.get("gpt")
    with pytest.raises(ConfigError, match="part of its own mixture"):
        pool.get("loop")
    with pytest.raises(UnknownArmError, match="'nobody'"):
        pool.get("ghost")
    with pytest.raises(ConfigError, match="t@hot"):
        pool.get("temp")
    with pytest.raises(ConfigError, match="model file not found"):
        pool.get("g")
    with pytest.raises(ConfigError, match="cannot read"):
        load_pool(Settings(data_dir=tmp_path, config=tmp_path / "missing.toml"))


def test_the_task_database_url(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).tasks_database_url == f"sqlite:///{tmp_path}/tasks.db"
    url = f"sqlite:///{tmp_path}/elsewhere.db"
    assert Settings(data_dir=tmp_path, database_url=url).tasks_database_url == url
    # PostgreSQL goes through psycopg 3, the driver toolroute installs, however it is spelt.
    for spelling in ("postgresql://u:pw@h/db", "postgres://u:pw@h/db"):
        got = Settings(data_dir=tmp_path, database_url=spelling).tasks_database_url
        assert got == "postgresql+psycopg://u:pw@h/db"
    for bad, message in (
        ("mysql://u@h/db", "'mysql' is not supported"),
        ("not a url", "not a database URL"),
        ("sqlite://", "SQLite needs a file"),
    ):
        with pytest.raises(ConfigError, match=message):
            _ = Settings(data_dir=tmp_path, database_url=bad).tasks_database_url


def test_concurrent_first_use_builds_an_arm_once_without_a_false_cycle(tmp_path: Path) -> None:
    # Found by the service's load test: two requests building the same arm at once made
    # the second see it "under construction" and report a mixture cycle.
    import threading
    import time

    from agent.arms.template import TemplateArm

    built: list[str] = []

    class SlowPool(ArmPool):
        def _build(self, name: str, spec: Any) -> Any:
            built.append(name)
            time.sleep(0.2)
            return TemplateArm(name)

    config = PoolConfig.model_validate({"arms": {"template": {"type": "template"}}})
    pool = SlowPool(config, Settings(data_dir=tmp_path))
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(pool.get("template"))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == ["template"] and len(results) == 4 and len({id(r) for r in results}) == 1


def test_an_unknown_arm_type_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'gpt9' is not an arm type; valid types: template"):
        load_pool(settings_with(tmp_path, '[arms.x]\ntype = "gpt9"\n'))
    with pytest.raises(ConfigError, match=r"arms.g.temperature: Input should be greater"):
        load_pool(settings_with(tmp_path, '[arms.g]\ntype = "llamacpp"\ntemperature = -1\n'))


class _EntryPoint:
    def __init__(self, name: str, value: object) -> None:
        self.name, self.value, self._loaded = name, f"plugin:{name}", value

    def load(self) -> object:
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def test_third_party_arm_types_come_from_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.arms import registry
    from agent.arms.specs import ArmSpec
    from tests.fakes import FakeArm

    class EchoSpec(ArmSpec):
        type: str = "echo"
        text: str = "pipeline('x')"

    plugin = registry.ArmType(
        "echo", EchoSpec, lambda name, spec, ctx: FakeArm(name, default=spec.text)
    )
    needs_missing = registry.ArmType(
        "ghost", EchoSpec, lambda name, spec, ctx: FakeArm(name), {"no_such_module_x": "ghost-pkg"}
    )
    points = [
        _EntryPoint("echo", plugin),
        _EntryPoint("ghost", needs_missing),
        _EntryPoint("broken", ImportError("boom")),
        _EntryPoint("template", plugin),  # may not replace a built-in
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    registry.arm_types.cache_clear()
    try:
        assert list(registry.arm_types()) == [
            *(t.name for t in registry.BUILTIN_TYPES),
            "echo",
            "ghost",
        ]
        settings = settings_with(tmp_path, '[arms.e]\ntype = "echo"\ntext = "hello()"\n')
        pool = ArmPool(load_pool(settings), settings)
        pool.check()
        echo = pool.get("e")
        assert isinstance(echo, FakeArm) and echo.default == "hello()"
        ghost = settings_with(tmp_path, '[arms.g]\ntype = "ghost"\n')
        with pytest.raises(ConfigError, match="ghost-pkg"):
            ArmPool(load_pool(ghost), ghost).check()
    finally:
        registry.arm_types.cache_clear()
