"""Service settings: environment variables with the ``TOOLROUTE_`` prefix.

The names in DESIGN.md's table are an interface people and scripts rely on; keep them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retriever.config import RetrieverConfig

if TYPE_CHECKING:
    from agent.sandbox.provenance import CodeOrigins

_CHECKOUT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """``./data`` beside a source checkout; ``~/.local/share/toolroute`` when installed."""
    if (_CHECKOUT / "pyproject.toml").exists() and (_CHECKOUT / "apidb").is_dir():
        return _CHECKOUT / "data"
    return Path.home() / ".local" / "share" / "toolroute"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOOLROUTE_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    config: Path | None = None
    database_url: str | None = None
    auth: Literal["required", "disabled"] = "required"
    api_keys: SecretStr | None = None  # comma-separated; none: one is created on first start
    # Keys that may also write the catalog, change the router and read every task.
    admin_keys: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api_url: str | None = None  # Slack's own by default; tests point it at a local server
    # The REST service (additions to the DESIGN.md table).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int | None = Field(default=None, ge=1)  # pipelines at once; default 2 per core
    queue_limit: int = Field(default=8, ge=0)  # tasks waiting beyond those: then 503
    rate_limit_per_s: float = Field(default=50.0, ge=0)  # per API key; 0 turns it off
    rate_limit_burst: int = Field(default=100, ge=1)
    # Failed authentications allowed per client address and minute; then 429. 0: no limit.
    auth_failures_per_minute: int = Field(default=10, ge=0)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_import_bytes: int = Field(default=32 << 20, ge=1024)  # `POST /v1/apis:import`
    drain_timeout_s: float = Field(default=30.0, ge=0)  # shutdown waits this long for tasks
    sandbox: Literal["bwrap", "unsafe-dev"] = "bwrap"
    # Sandbox (additions to the DESIGN.md table).
    sandbox_timeout_s: float = Field(default=10.0, gt=0, le=600)
    sandbox_max_concurrent: int | None = Field(default=None, ge=1)  # default: 2 per core
    # Origins (`http://127.0.0.1:8765`) of your own services that `http` docs may reach
    # although they are not public addresses; comma-separated.
    sandbox_local_services: str = ""
    # `module:name` (or `module:*`, every public name of that module itself) whose real
    # code live runs may call; comma-separated.
    sandbox_live_callables: str = "math:*,statistics:*"
    # Where catalog calls may load code and models from, beyond the bundled catalog's
    # torch.hub repositories and tfhub.dev/Kaggle/Hugging Face; comma-separated.
    sandbox_torchhub_repos: str = ""
    sandbox_model_hosts: str = ""
    # Retrieval (additions to the DESIGN.md table).
    # A sentence-transformers model dir for every embedding. Unset: the catalog uses MiniLM
    # tuned on APIBench's training data (trained by the first index build, unless
    # embedder_tuning is "off"), and agents' own tools the shipped MiniLM (agent/embedding.py).
    embedder_model: Path | None = None
    embedder_tuning: Literal["apibench", "off"] = "apibench"
    # The catalog embedder's weights: fp32, or int8 (dynamically quantised, ~3x faster to
    # embed on a CPU). auto: what the existing index was built with; for a new index, int8
    # from 20,000 APIs, where the build time dominates (agent/embedding.py, BENCHMARKS.md).
    embedder_precision: Literal["auto", "fp32", "int8"] = "auto"
    # The cross-encoder reranker over the catalog's hybrid hits (retriever/rerank.py),
    # trained by the first index build that has it on.
    rerank: Literal["on", "off"] = "off"
    index_type: Literal["flat", "hnsw"] = "flat"
    fusion: Literal["weighted", "rrf"] = "weighted"
    # The default pool's `openai` arm (added only when a base URL is set).
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "default"
    openai_mode: Literal["chat", "completions"] = "chat"

    @field_validator(
        "config",
        "database_url",
        "api_keys",
        "admin_keys",
        "slack_signing_secret",
        "slack_bot_token",
        "slack_api_url",
        "openai_base_url",
        "openai_api_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `VAR=` (as compose files write an optional setting) means "not set", not "".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_dir")
    @classmethod
    def _a_directory(cls, value: Path) -> Path:
        # Checked here, so a file in its place is one clear error, not a traceback from
        # the first mkdir under it.
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @property
    def api_key_list(self) -> list[str]:
        raw = self.api_keys.get_secret_value() if self.api_keys else ""
        return [k.strip() for k in raw.split(",") if k.strip()]

    @property
    def admin_key_list(self) -> list[str]:
        raw = self.admin_keys.get_secret_value() if self.admin_keys else ""
        return [k.strip() for k in raw.split(",") if k.strip()]

    @property
    def slack_enabled(self) -> bool:
        return self.slack_signing_secret is not None and self.slack_bot_token is not None

    @property
    def sandbox_local_service_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_local_services.split(",") if s.strip()]

    @property
    def sandbox_live_callable_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_live_callables.split(",") if s.strip()]

    def code_origins(self) -> CodeOrigins:
        from agent.sandbox.provenance import CodeOrigins

        return CodeOrigins.with_extra(
            self.sandbox_torchhub_repos.split(","), self.sandbox_model_hosts.split(",")
        )

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.db"

    @property
    def catalog_location(self) -> str | Path:
        """Where the catalog lives: in the shared PostgreSQL database when
        `TOOLROUTE_DATABASE_URL` names one (every instance then serves one catalog and
        follows its change log), else `catalog.db` in the data dir."""
        return self.shared_database_url() or self.catalog_path

    @property
    def router_location(self) -> str | Path:
        """Where the router's state lives: the shared PostgreSQL database (every replica
        learns from every replica's rewards), else `router.db` in the data dir."""
        return self.shared_database_url() or self.router_path

    def shared_database_url(self) -> str | None:
        """`TOOLROUTE_DATABASE_URL` when it names a PostgreSQL database. (A SQLite URL moves
        only the tasks: a file is never shared between machines.)"""
        from agent.tasks import database_url

        if self.database_url is None:
            return None
        url = database_url(self.database_url)
        if url.get_backend_name() != "postgresql":
            return None
        return url.render_as_string(hide_password=False)

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def config_path(self) -> Path | None:
        """`TOOLROUTE_CONFIG`, else `toolroute.toml` in the data dir if present."""
        if self.config is not None:
            return self.config
        default = self.data_dir / "toolroute.toml"
        return default if default.is_file() else None

    @property
    def router_path(self) -> Path:
        return self.data_dir / "router.db"

    @property
    def tasks_database_url(self) -> str:
        """The task database: SQLite in the data dir unless `TOOLROUTE_DATABASE_URL` names
        another (a `sqlite:///PATH` file, or PostgreSQL shared by several instances)."""
        from agent.tasks import database_url

        if self.database_url is None:
            return f"sqlite:///{self.data_dir / 'tasks.db'}"
        return database_url(self.database_url).render_as_string(hide_password=False)

    def scratch(self, directory: Path) -> Settings:
        """Settings for a private working directory (an evaluation's router state, a
        benchmark's tasks): every path derives from `directory`, tasks go to SQLite there
        (never the real database), and the configuration and assembled models are shared."""
        directory.mkdir(parents=True, exist_ok=True)
        models, link = self.data_dir / "models", directory / "models"
        if models.is_dir() and not link.exists():
            link.symlink_to(models.resolve(), target_is_directory=True)
        return self.model_copy(
            update={"data_dir": directory, "database_url": None, "config": self.config_path}
        )

    def retriever_config(self, embedder: object = None) -> RetrieverConfig:
        """The index and fusion settings, with the fusion weights chosen for `embedder`
        (retriever.config.fusion_for)."""
        from retriever.config import fusion_for

        return fusion_for(embedder, RetrieverConfig(index_type=self.index_type, fusion=self.fusion))
