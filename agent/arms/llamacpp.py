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
from agent.errors import ArmUnavailableError, CallParseError, MissingDependencyError
from agent.prompting import PROMPT_DOCS, build_prompt, call_grammar

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
    ) -> None:
        super().__init__(name, price)
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
        from llama_cpp.llama_grammar import LlamaGrammar

        prompt = build_prompt(request.query, request.hits, request.proposals)
        temperature = self.temperature if request.temperature is None else request.temperature
        options: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": temperature,
            "stop": ["\n"],
        }
        if self.constrained:
            docs = [hit.doc for hit in request.hits[:PROMPT_DOCS]]
            try:
                grammar_text = call_grammar(docs)
            except CallParseError:
                # Nothing retrieved is callable: no grammar can help, so let the model write.
                grammar_text = None
            if grammar_text is not None:
                options["grammar"] = LlamaGrammar.from_string(grammar_text, verbose=False)
        with self._lock:
            llama = self._load()
            try:
                result = llama.create_completion(prompt=" " if not prompt else prompt, **options)
            except (ValueError, RuntimeError) as exc:  # e.g. prompt longer than the context
                raise ArmUnavailableError(f"{self.name}: generation failed: {exc}") from exc
        usage = result.get("usage", {})
        return RawGeneration(
            text=result["choices"][0]["text"].strip(),
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            meta={"constrained": "grammar" in options, "temperature": temperature},
        )

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "model": str(self.model_path),
            "constrained": self.constrained,
            "temperature": self.temperature,
        }
