"""`replay`: answers from another system's recorded outputs, at a configured price and
latency, so the router can be studied against models that cannot run here.

Two recording formats, JSON Lines:

- APIBench responses (`{"question_id": N, "text": ...}`), per hub: question N is line N of
  that hub's eval file, whose instruction text is the query the answer belongs to. The
  released Gorilla 7B zero-shot responses ship with toolroute and are the default;
- plain recordings (`{"query": ..., "text": ...}`) for any other system.

A query with no recorded answer is `ArmUnavailableError` (the router falls back), never a
made-up answer. The answer's call is taken from Gorilla's `api_call` field when present.
Tokens are estimated at 4 characters each: the recordings do not carry counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.arms.base import Arm, GenerationRequest, Price, RawGeneration
from agent.errors import ArmUnavailableError, ConfigError
from apidb.bundled import APIBENCH_DIR, APIBENCH_HUBS

GORILLA_RESPONSES = {
    hub: APIBENCH_DIR / "responses" / f"response_{hub}_Gorilla_FT_0_shot.jsonl"
    for hub in APIBENCH_HUBS
}
_CHARS_PER_TOKEN = 4


def query_key(text: str) -> str:
    return " ".join(text.split()).casefold()


class ReplayArm(Arm):
    kind = "replay"
    local = False  # the recorded system's price applies, not this machine's compute

    def __init__(
        self,
        name: str,
        *,
        responses: Mapping[str, Path] | None = None,
        recordings: Sequence[Path] = (),
        latency_s: float = 0.0,
        price: Price | None = None,
    ) -> None:
        super().__init__(name, price)
        self.latency_s = latency_s
        self._answers: dict[str, str] = {}
        sources = dict(
            GORILLA_RESPONSES if responses is None and not recordings else responses or {}
        )
        for hub, path in sources.items():
            self._load_apibench(hub, Path(path))
        for path in recordings:
            self._load_recording(Path(path))

    def __len__(self) -> int:
        return len(self._answers)

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        from agent.evaluation.ast_match import extract_call_text

        recorded = self._answers.get(query_key(request.query))
        if recorded is None:
            raise ArmUnavailableError(f"{self.name}: no recorded answer for this query")
        return RawGeneration(
            text=extract_call_text(recorded),
            tokens_in=len(request.query) // _CHARS_PER_TOKEN,
            tokens_out=len(recorded) // _CHARS_PER_TOKEN,
            latency_s=self.latency_s,
            meta={"recorded": recorded[:2000]},
        )

    def _load_apibench(self, hub: str, path: Path) -> None:
        from retriever.benchmark import load_questions

        if hub not in APIBENCH_HUBS:
            raise ConfigError(f"{self.name}: unknown hub {hub!r} for APIBench responses")
        texts = {q.question_id: q.text for q in load_questions(hub)}
        for record in _records(path, self.name):
            number, text = record.get("question_id"), record.get("text")
            question = texts.get(number) if isinstance(number, int) else None
            if question is not None and isinstance(text, str):
                # The first answer wins when two questions share a text.
                self._answers.setdefault(query_key(question), text)

    def _load_recording(self, path: Path) -> None:
        for record in _records(path, self.name):
            query, text = record.get("query"), record.get("text")
            if isinstance(query, str) and isinstance(text, str):
                self._answers.setdefault(query_key(query), text)

    def describe(self) -> dict[str, object]:
        return super().describe() | {"answers": len(self), "latency_s": self.latency_s}


def _records(path: Path, arm: str) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{arm}: cannot read recorded answers {path}: {exc}") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{arm}: {path}:{number} is not JSON: {exc.msg}") from exc
        if isinstance(record, dict):
            records.append(record)
    return records
