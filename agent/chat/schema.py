"""The request of `POST /v1/chat/completions`, as OpenAI defines it (the parts toolroute
reads; other options are accepted and ignored, so a client's defaults never break a call)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apidb.json_schema import check_json_schema

MAX_TOOLS = 128
ROUTED_MODELS = ("toolroute", "auto")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, tool_call_id, ...

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The message's text (the text parts of a multi-part message, joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class FunctionDef(BaseModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str = ""
    parameters: dict[str, Any] | None = None

    @field_validator("parameters")
    @classmethod
    def _a_json_schema(cls, parameters: dict[str, Any] | None) -> dict[str, Any] | None:
        if parameters is not None:
            check_json_schema(parameters)
        return parameters


class ToolDef(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class JSONSchemaFormat(BaseModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "response"
    description: str = ""
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """`{"type": "text"}`, `{"type": "json_object"}` or `{"type": "json_schema",
    "json_schema": {"name", "schema", "strict"}}`."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and (
            self.json_schema is None or not self.json_schema.schema_
        ):
            raise ValueError("response_format of type json_schema needs json_schema.schema")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="toolroute", max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    tools: list[ToolDef] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Any = None
    # The legacy forms of `tools` and `tool_choice`, which older clients still send.
    functions: list[FunctionDef] | None = Field(default=None, max_length=MAX_TOOLS)
    function_call: Any = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)

    @model_validator(mode="after")
    def _distinct_tool_names(self) -> ChatCompletionRequest:
        if self.tools is not None and self.functions is not None:
            raise ValueError("send tools or the legacy functions, not both")
        names = [tool.function.name for tool in self.tools or []]
        names += [function.name for function in self.functions or []]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"tools must have distinct names; repeated: {', '.join(repeated)}")
        return self
