"""`llamacpp`: any GGUF through llama-cpp-python, with grammar-constrained decoding.

Constrained mode (the default) decodes under the grammar of `prompting.call_grammar`, so
the output is always a call to one of the retrieved APIs with well-formed arguments.
Unconstrained mode samples one line freely (kept to measure what the grammar buys).
The model loads once per arm, on first use or at `warm_up()`; one generation runs at a
time (a llama.cpp context is not thread-safe).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from agent.arms.base import Arm, GenerationRequest, Price, RawGeneration
from agent.calls.grammar import fill_grammar
from agent.errors import ArmUnavailableError, CallParseError, MissingDependencyError
from agent.jsontypes import JSONObject
from agent.prompting import (
    PROMPT_DOCS,
    build_fill_prompt,
    build_prompt,
    call_grammar,
    grammar_alternatives,
)
from agent.resolve import callable_name

logger = logging.getLogger("toolroute.arms")


class LlamaCppArm(Arm):
    kind = "llamacpp"

    def __init__(
        self,
        name: str,
        model_path: Path,
        *,
        price: Price | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.0,
        max_tokens: int = 128,
        constrained: bool = True,
        seed: int = 0,
        fill_margin: float = 0.0,
    ) -> None:
        super().__init__(name, price)
        self.fill_margin = fill_margin
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.constrained = constrained
        self.seed = seed
        self._llama: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingDependencyError("llama-cpp-python", "the llamacpp arm") from exc
            try:
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ArmUnavailableError(
                    f"{self.name}: cannot load {self.model_path}: {exc}"
                ) from exc
        return self._llama

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        if request.fill is not None and request.fill.doc.kind != "python":
            return self._fill(request)
        from llama_cpp.llama_grammar import LlamaGrammar

        prompt = build_prompt(request.query, request.hits, request.proposals)
        options = self._options(request)
        temperature = options["temperature"]
        fixed: list[str] = []
        open_names: list[str] = []
        if self.constrained:
            docs = [hit.doc for hit in request.hits[:PROMPT_DOCS]]
            try:
                grammar_text = call_grammar(docs)
            except CallParseError:
                # Nothing retrieved is callable: no grammar can help, so let the model write.
                grammar_text = None
            if grammar_text is not None:
                options["grammar"] = LlamaGrammar.from_string(grammar_text, verbose=False)
                fixed, open_names = grammar_alternatives(docs)
        text, tokens_in, tokens_out, forced = self._run(prompt, options, fixed, open_names)
        return RawGeneration(
            text=text.strip(),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            meta={
                "constrained": "grammar" in options,
                "temperature": temperature,
                "fast_forward": forced,
            },
        )

    def _fill(self, request: GenerationRequest) -> RawGeneration:
        """One chosen function's arguments, decoded under its grounded grammar."""
        from llama_cpp.llama_grammar import LlamaGrammar

        assert request.fill is not None
        doc = request.fill.doc
        prompt = build_fill_prompt(request.query, doc)
        grammar_text, loosened = fill_grammar(
            callable_name(doc),
            doc.parameters,
            {name: list(options) for name, options in request.fill.options.items()},
            margin=self.fill_margin,
        )
        options = self._options(request)
        temperature = options["temperature"]
        options["grammar"] = LlamaGrammar.from_string(grammar_text, verbose=False)
        text, tokens_in, tokens_out, _ = self._run(prompt, options, [], [])
        return RawGeneration(
            text=text.strip(),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            meta={
                "constrained": True,
                "fill": True,
                "temperature": temperature,
                "loosened": loosened,
                "truncated": tokens_out >= self.max_tokens,
            },
        )

    def _options(self, request: GenerationRequest) -> JSONObject:
        """Sampling options shared by both modes; one line is one call."""
        temperature = self.temperature if request.temperature is None else request.temperature
        return {"max_tokens": self.max_tokens, "temperature": temperature, "stop": ["\n"],
                "stream": True}  # fmt: skip

    def _run(
        self, prompt: str, options: JSONObject, fixed: list[str], open_names: list[str]
    ) -> tuple[str, int, int, bool]:
        """Decode under the arm's lock: (text, tokens in, tokens out, fast-forwarded)."""
        with self._lock:
            llama = self._load()
            try:
                tokens_in = len(llama.tokenize(prompt.encode("utf-8")))
                text, tokens_out, forced = self._decode(llama, prompt, options, fixed, open_names)
            except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than the context
                raise ArmUnavailableError(f"{self.name}: generation failed: {exc}") from exc
        return text, tokens_in, tokens_out, forced

    @staticmethod
    def _decode(
        llama: Any,
        prompt: str,
        options: JSONObject,
        fixed: list[str],
        open_names: list[str],
    ) -> tuple[str, int, bool]:
        """Stream tokens; stop as soon as the grammar leaves only one possible output.

        Under the grammar every output is one of the fixed calls or starts with an open
        call's name. Once the text so far fits exactly one fixed call and no open one,
        the rest is forced, so it is written out instead of decoded token by token
        (each grammar-checked token costs ~75 ms over Gemma's 262k-token vocabulary).
        """
        text, tokens = "", 0
        stream = llama.create_completion(prompt=prompt, **options)
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["text"]
                if chunk["choices"][0].get("finish_reason") is None:
                    tokens += 1  # one streamed chunk per sampled token; the last one is a stop
                text += piece
                if fixed:
                    done = text.lstrip()
                    left = [c for c in fixed if c.startswith(done)]
                    still_open = any(n.startswith(done) or done.startswith(n) for n in open_names)
                    if len(left) == 1 and not still_open:
                        return left[0], tokens, left[0] != done
        finally:
            stream.close()
        return text, tokens, False

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def describe(self) -> JSONObject:
        return super().describe() | {
            "model": str(self.model_path),
            "constrained": self.constrained,
            "temperature": self.temperature,
        }
