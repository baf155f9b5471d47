"""Service settings: environment variables with the ``TOOLROUTE_`` prefix.

The names in DESIGN.md's table are an interface people and scripts rely on; keep them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from retriever.config import RetrieverConfig

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
    sandbox: Literal["bwrap", "unsafe-dev"] = "bwrap"
    # Retrieval (additions to the DESIGN.md table).
    embedder_model: Path | None = None  # a sentence-transformers model dir; default MiniLM
    index_type: Literal["flat", "hnsw"] = "flat"
    fusion: Literal["weighted", "rrf"] = "weighted"

    @cached_property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.db"

    @cached_property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def retriever_config(self) -> RetrieverConfig:
        return RetrieverConfig(index_type=self.index_type, fusion=self.fusion)
