"""`openai`: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp's server, ...).

Speaks `/v1/chat/completions` (instruction-tuned models) or `/v1/completions` (base models,
with the same few-shot prompt as the local arms). With `grammar = true` the completions
request carries the llama.cpp server's `grammar` field, so a llama.cpp server decodes
under the same call grammar as the `llamacpp` arm.

An arm may list several endpoints; `router.EndpointPool` picks one by latency and load,
and a timeout, a connection failure, a non-2xx answer or a malformed body moves the call
to the next endpoint. The API key comes from an environment variable named in the config
(never from the config file itself) and is never logged or shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import httpx
from pydantic import SecretStr

from agent.arms.base import Arm, GenerationRequest, Price, RawGeneration
from agent.errors import ArmUnavailableError, CallParseError
from agent.jsontypes import JSONObject
from agent.prompting import PROMPT_DOCS, build_messages, build_prompt, call_grammar
from router import AllEndpointsFailedError, EndpointFailure, EndpointPool
from router.endpoints import EndpointState

Mode = Literal["chat", "completions"]


class OpenAIArm(Arm):
    kind = "openai"
    local = False

    def __init__(
        self,
        name: str,
        endpoints: Sequence[tuple[str, str | None]],
        *,
        model: str,
        api_key: SecretStr | None = None,
        mode: Mode = "chat",
        grammar: bool = False,
        price: Price | None = None,
        temperature: float = 0.0,
        max_tokens: int = 128,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        cooldown_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name, price)
        self.pool = EndpointPool(endpoints, cooldown_s=cooldown_s)
        self.model = model
        self.mode: Mode = mode
        self.grammar = grammar
        self.temperature = temperature
        self.max_tokens = max_tokens
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        body = self._body(request)
        path = "/chat/completions" if self.mode == "chat" else "/completions"
        try:
            (text, usage), endpoint = self.pool.call(lambda e: self._post(e, path, body))
        except AllEndpointsFailedError as exc:
            raise ArmUnavailableError(f"{self.name}: {exc}") from exc
        return RawGeneration(
            text=text.strip(),
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            endpoint=endpoint.url,
            meta={"model": self.model, "mode": self.mode, "region": endpoint.region},
        )

    def _body(self, request: GenerationRequest) -> JSONObject:
        temperature = self.temperature if request.temperature is None else request.temperature
        body: JSONObject = {
            "model": self.model,
            "temperature": temperature,
            "max_tokens": self.max_tokens,
        }
        if self.mode == "chat":
            body["messages"] = build_messages(request.query, request.hits, request.proposals)
            return body
        body["prompt"] = build_prompt(request.query, request.hits, request.proposals)
        body["stop"] = ["\n"]
        if self.grammar:
            try:
                body["grammar"] = call_grammar([h.doc for h in request.hits[:PROMPT_DOCS]])
            except CallParseError:
                pass  # nothing callable was retrieved: let the model write
        return body

    def _post(self, endpoint: EndpointState, path: str, body: JSONObject) -> tuple[str, JSONObject]:
        """The answer's text and usage; any failure is the endpoint's (try the next)."""
        url = endpoint.url.rstrip("/") + path
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise EndpointFailure(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise EndpointFailure(f"unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise EndpointFailure(f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise EndpointFailure("the response is not JSON") from exc
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.mode == "chat" else choice["text"]
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise EndpointFailure(f"malformed response ({exc!r})") from exc
        if not isinstance(text, str) or not isinstance(usage, dict):
            raise EndpointFailure("malformed response (no text)")
        return text, usage

    def close(self) -> None:
        self._client.close()

    def describe(self) -> JSONObject:
        return super().describe() | {
            "model": self.model,
            "mode": self.mode,
            "endpoints": [e.url for e in self.pool.endpoints],
        }
