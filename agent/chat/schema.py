"""The request of `POST /v1/chat/completions`, as OpenAI defines it (the parts toolroute
reads; other options are accepted and ignored, so a client's defaults never break a call)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class ToolDef(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="toolroute", max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    tools: list[ToolDef] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Any = None
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)

    @model_validator(mode="after")
    def _distinct_tool_names(self) -> ChatCompletionRequest:
        names = [tool.function.name for tool in self.tools or []]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"tools must have distinct names; repeated: {', '.join(repeated)}")
        return self
