"""Where a conversation stands: what the user asked, which calls were made since, and what
they returned. An agent loop sends the whole conversation every turn; this reads it.

    state = read(messages)
    state.request          # the last user message's text
    state.turns_done       # assistant turns with tool calls since then
    state.results          # the tool results of the latest of those turns
    summary(state)         # the plain-language answer once nothing is left to call
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.chat.schema import ChatMessage

# A result is quoted whole up to this many characters, then cut (the client has it all).
MAX_RESULT_CHARS = 300


@dataclass(frozen=True)
class ToolResult:
    function: str  # the called function's name ("" when the client did not say)
    arguments: str  # as the assistant sent them (JSON text)
    content: str


@dataclass(frozen=True)
class Conversation:
    request: str
    turns_done: int = 0
    results: list[ToolResult] = field(default_factory=list)  # of the latest turn
    all_results: list[ToolResult] = field(default_factory=list)

    @property
    def ends_on_results(self) -> bool:
        return bool(self.results)


def read(messages: Sequence[ChatMessage]) -> Conversation:
    """The conversation since the last user message with text (request "" when none)."""
    start = _last_user(messages)
    request = messages[start].text.strip() if start is not None else ""
    calls: dict[str, tuple[str, str]] = {}  # tool_call_id -> (function, arguments)
    turns = 0
    latest: list[ToolResult] = []
    every: list[ToolResult] = []
    for message in messages[(start + 1 if start is not None else 0) :]:
        if message.role == "assistant":
            made = _calls_of(message)
            if made:
                turns += 1
                latest = []
                calls.update(made)
        elif message.role in ("tool", "function"):
            function, arguments = _called(message, calls)
            result = ToolResult(function, arguments, message.text)
            latest.append(result)
            every.append(result)
    ends_on_results = bool(messages) and messages[-1].role in ("tool", "function")
    return Conversation(request, turns, latest if ends_on_results else [], every)


def summary(results: Sequence[ToolResult]) -> str:
    """A short answer that states each result in words, never the raw JSON alone:
    `get_weather(city="Paris") returned temperature 18, sky cloudy.`"""
    sentences = []
    for result in results:
        called = (
            f"{result.function}({_arguments_text(result.arguments)})" if result.function else ""
        )
        said = _in_words(result.content)
        sentences.append(f"{called} returned {said}." if called else f"The tool returned {said}.")
    return " ".join(sentences) or "There is no result to report."


def result_text(results: Sequence[ToolResult]) -> str:
    """The results as one value a later call may take ("18 C, cloudy")."""
    return "; ".join(_in_words(result.content) for result in results)


def _last_user(messages: Sequence[ChatMessage]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user" and messages[index].text.strip():
            return index
    return None


def _calls_of(message: ChatMessage) -> dict[str, tuple[str, str]]:
    """The calls an assistant message made, by id (the legacy `function_call` has none)."""
    extra = message.model_extra or {}
    made: dict[str, tuple[str, str]] = {}
    tool_calls = extra.get("tool_calls")
    for number, call in enumerate(tool_calls if isinstance(tool_calls, list) else []):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            key = str(call.get("id") or f"#{number}")
            made[key] = (str(function.get("name", "")), str(function.get("arguments", "")))
    legacy = extra.get("function_call")
    if isinstance(legacy, dict):
        made[str(legacy.get("name", ""))] = (
            str(legacy.get("name", "")),
            str(legacy.get("arguments", "")),
        )
    return made


def _called(message: ChatMessage, calls: dict[str, tuple[str, str]]) -> tuple[str, str]:
    extra = message.model_extra or {}
    key = extra.get("tool_call_id") or extra.get("name")
    if isinstance(key, str) and key in calls:
        return calls[key]
    name = extra.get("name")
    return (name, "") if isinstance(name, str) else ("", "")


def _arguments_text(arguments: str) -> str:
    try:
        parsed = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return _cut(arguments)
    if not isinstance(parsed, dict):
        return _cut(arguments)
    return ", ".join(f"{name}={json.dumps(value)}" for name, value in parsed.items())


def _in_words(content: str) -> str:
    """A result in words: a JSON object's fields as "name value", a list's items, or the
    text itself."""
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError:
        return _cut(content.strip()) or "nothing"
    return _cut(_value_words(parsed)) or "nothing"


def _value_words(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_value_words(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_value_words(item) for item in value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_RESULT_CHARS else text[: MAX_RESULT_CHARS - 1] + "…"
