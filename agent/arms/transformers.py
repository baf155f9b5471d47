"""`transformers`: a causal LM on torch CPU through Hugging Face transformers.

The default model is the same Gemma 3 270M GGUF the llamacpp arm uses, loaded through
transformers' GGUF support (dequantised to fp32; needs the `gguf` and `accelerate`
packages; about 50 s to load cold and ~10 tokens/s on 2 cores). Any local model directory
works as well (`model = "/path/to/dir"`, no `gguf_file`).

Constrained decoding uses `prefix_allowed_tokens_fn`: when every retrieved API has a fixed
canonical call (APIBench's Python APIs), decoding may only follow the token sequence of
one of those calls, so the output is always one of them. Function and HTTP docs need
free arguments, which a token trie cannot express; for those the arm decodes freely up to
the end of the line (llama.cpp's grammar covers that case in the llamacpp arm).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.arms.base import Arm, GenerationRequest, Price, RawGeneration
from agent.errors import ArmUnavailableError, MissingDependencyError
from agent.jsontypes import JSONObject
from agent.prompting import PROMPT_DOCS, build_prompt, call_template


class TransformersArm(Arm):
    kind = "transformers"

    def __init__(
        self,
        name: str,
        model_path: Path,
        *,
        price: Price | None = None,
        temperature: float = 0.0,
        max_tokens: int = 96,
        constrained: bool = True,
        n_threads: int | None = None,
    ) -> None:
        super().__init__(name, price)
        self.model_path = model_path
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.constrained = constrained
        self.n_threads = n_threads or os.cpu_count() or 1
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            self._load()

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise MissingDependencyError("transformers", "the transformers arm") from exc
            torch.set_num_threads(self.n_threads)
            if self.model_path.is_file():  # a GGUF file
                where, extra = str(self.model_path.parent), {"gguf_file": self.model_path.name}
            else:
                where, extra = str(self.model_path), {}
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(where, **extra)
                self._model = AutoModelForCausalLM.from_pretrained(
                    where, dtype=torch.float32, **extra
                )
            except (OSError, ValueError, ImportError) as exc:
                raise ArmUnavailableError(
                    f"{self.name}: cannot load {self.model_path}: {exc}"
                ) from exc
            self._model.eval()
        return self._model, self._tokenizer

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        import torch

        prompt = build_prompt(request.query, request.hits, request.proposals)
        temperature = self.temperature if request.temperature is None else request.temperature
        with self._lock:
            model, tokenizer = self._load()
            inputs = tokenizer(prompt, return_tensors="pt")
            prompt_len = int(inputs["input_ids"].shape[1])
            allowed = self._allowed_tokens(request, tokenizer, prompt_len)
            options: JSONObject = {
                "max_new_tokens": self.max_tokens,
                "do_sample": temperature > 0,
                "pad_token_id": tokenizer.eos_token_id,
            }
            if temperature > 0:
                options["temperature"] = temperature
            if allowed is not None:
                options["prefix_allowed_tokens_fn"] = allowed
            with torch.inference_mode():
                output = model.generate(**inputs, **options)
        new_tokens = output[0, prompt_len:]
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return RawGeneration(
            text=text.split("\n", 1)[0].strip(),
            tokens_in=prompt_len,
            tokens_out=int(new_tokens.shape[0]),
            meta={"constrained": allowed is not None, "temperature": temperature},
        )

    def _allowed_tokens(
        self, request: GenerationRequest, tokenizer: Any, prompt_len: int
    ) -> Callable[[int, Any], list[int]] | None:
        docs = [h.doc for h in request.hits[:PROMPT_DOCS]]
        if not self.constrained or not docs or any(d.kind != "python" for d in docs):
            return None
        eos = int(tokenizer.eos_token_id)
        # The same numbered form the few-shot examples answer in: " [2] pipeline(...)".
        sequences = [
            tokenizer(f" [{i}] {call_template(d)}", add_special_tokens=False)["input_ids"]
            for i, d in enumerate(docs, start=1)
            if d.call
        ]
        if not sequences:
            return None

        def allowed(batch_id: int, input_ids: Any) -> list[int]:
            generated = input_ids[prompt_len:].tolist()
            n = len(generated)
            nxt = {seq[n] if len(seq) > n else eos for seq in sequences if seq[:n] == generated}
            return sorted(nxt) or [eos]

        return allowed

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tokenizer = None

    def describe(self) -> JSONObject:
        return super().describe() | {"model": str(self.model_path), "constrained": self.constrained}
