"""The `APIDoc` model: one API the service can call, whatever format it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apidb.names import hub_key

DocKind = Literal["python", "http", "function"]

# Ids are path-like ("huggingface/facebook/bart-large-cnn"): printable, no whitespace.
_MAX_ID_LENGTH = 300
# Bounds on what one doc may hold, so that every stored doc can be read back (pydantic's
# JSON reader refuses nesting past its recursion limit) and none costs much to load.
# The bundled APIBench docs nest 3 levels and are at most 4.5 KB.
MAX_NESTING = 32
MAX_ENUM_VALUES = 1000
MAX_DOC_CHARS = 256 * 1024


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
    def _hub_is_a_slug(cls, value: str) -> str:
        key = hub_key(value)
        if not key:
            raise ValueError("hub must contain a letter or a digit")
        return key

    @field_validator("parameters", "extra")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_bounds(value)
        return value

    @model_validator(mode="after")
    def _small_enough(self) -> APIDoc:
        # After the nesting check, so this serialisation cannot recurse too deep.
        size = len(self.model_dump_json())
        if size > MAX_DOC_CHARS:
            raise ValueError(
                f"the doc is {size:,} characters of JSON; the limit is {MAX_DOC_CHARS:,}"
            )
        return self

    def round_trip(self) -> APIDoc:
        """This doc as the store will read it back; raises `ValueError` if it cannot be."""
        return APIDoc.model_validate_json(self.model_dump_json())

    def content_equal(self, other: APIDoc) -> bool:
        """True when the two docs say the same thing (ignoring version and timestamp)."""
        ignore = {"version", "updated_at"}
        return self.model_dump(exclude=ignore) == other.model_dump(exclude=ignore)


def check_bounds(value: object) -> None:
    """Raise `ValueError` if a JSON value nests deeper than `MAX_NESTING` or holds an
    enum longer than `MAX_ENUM_VALUES`. Iterative: a hostile schema nested thousands of
    levels deep must not exhaust the stack here either."""
    level = [value]
    for depth in range(MAX_NESTING + 1):
        inner: list[object] = []
        for item in level:
            if isinstance(item, dict):
                enum = item.get("enum")
                if isinstance(enum, list) and len(enum) > MAX_ENUM_VALUES:
                    raise ValueError(
                        f"an enum of {len(enum):,} values; the limit is {MAX_ENUM_VALUES:,}"
                    )
                inner.extend(item.values())
            elif isinstance(item, list):
                inner.extend(item)
        if not inner:
            return
        level = inner
        if depth == MAX_NESTING:
            break
    raise ValueError(f"nested more than {MAX_NESTING} levels deep")
