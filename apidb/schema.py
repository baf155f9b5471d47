"""The `APIDoc` model: one API the service can call, whatever format it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DocKind = Literal["python", "http", "function"]

# Ids are path-like ("huggingface/facebook/bart-large-cnn"): printable, no whitespace.
_MAX_ID_LENGTH = 300


def utcnow() -> datetime:
    return datetime.now(UTC)


class HttpOperation(BaseModel):
    """Where an `http` doc lives: method, path template and the spec's server URLs."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str
    servers: list[str] = Field(default_factory=list)
    operation_id: str | None = None


class APIDoc(BaseModel):
    """One API in the catalog.

    `call` is the canonical call text (APIBench's `api_call`, or a synthesised
    `name(arg=...)` for functions and `GET /path` for HTTP operations). `parameters` is a
    JSON schema when the source gives one. `extra` keeps source fields that are useful for
    search and display but have no common meaning across formats (APIBench's
    functionality, performance, requirements, ...).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=_MAX_ID_LENGTH)
    hub: str = Field(min_length=1)
    kind: DocKind
    domain: str = ""
    name: str = Field(min_length=1)
    call: str = ""
    parameters: dict[str, Any] | None = None
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    source: str = ""
    version: int = 1
    updated_at: datetime = Field(default_factory=utcnow)
    http: HttpOperation | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_is_path_like(cls, value: str) -> str:
        if value != value.strip() or any(ch.isspace() for ch in value):
            raise ValueError("id must not contain whitespace")
        return value

    @field_validator("hub")
    @classmethod
    def _hub_is_lowercase_word(cls, value: str) -> str:
        return value.strip().lower()

    def content_equal(self, other: APIDoc) -> bool:
        """True when the two docs say the same thing (ignoring version and timestamp)."""
        ignore = {"version", "updated_at"}
        return self.model_dump(exclude=ignore) == other.model_dump(exclude=ignore)
