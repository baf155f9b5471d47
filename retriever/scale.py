"""How search holds up as the catalog grows: `toolroute bench retrieval --scale 1k,10k,100k`.

For each size, a fresh Python process imports that many synthetic APIs (`apidb.synthetic`) into a
scratch catalog, builds the index with the given settings, and measures:

    build_s      the index build from the catalog (embedding, BM25, FAISS, the save)
    peak_rss_mb  the child's peak resident memory, model included
    index_mb     the index directory on disk
    p50_ms/p99_ms  hybrid search over the whole catalog, query embedding included
    add_ms       the median time from adding one doc to the catalog until search sees it,
                 with the index saved as a service saves it (deferred)

A process per size, so that each peak RSS is that size's own and one size's garbage does not
slow the next.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from apidb import CatalogStore
from apidb.synthetic import DEFAULT_SEED, synthetic_docs
from retriever.config import RetrieverConfig
from retriever.embedder import Embedder, Precision
from retriever.errors import RetrieverError

QUERY_COUNT = 200
UPDATE_ROUNDS = 20

# What a person asks for, in the synthetic catalog's words (apidb.synthetic's areas).
_QUERY_TEMPLATES = (
    "list the {many} of a customer",
    "create a new {one}",
    "delete the {one} with id 42",
    "search {many} by name",
    "export all {many} as csv",
    "how many {many} do we have",
    "archive an old {one}",
    "update the {one} we created yesterday",
)


@dataclass(frozen=True, slots=True)
class ScaleFigures:
    build_s: float
    peak_rss_mb: float
    index_mb: float
    p50_ms: float
    p99_ms: float
    add_ms: float


EmbedderFactory = Callable[[], Embedder]


def parse_sizes(text: str) -> list[int]:
    """ "1k,10k,100k" -> [1000, 10000, 100000]; raises `ValueError` with the bad part."""
    sizes = []
    for part in text.split(","):
        raw = part.strip().lower()
        factor = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
        number = raw[:-1] if factor > 1 else raw
        try:
            size = int(float(number) * factor)
        except ValueError:
            raise ValueError(
                f"not a catalog size: {part.strip()!r} (say 1000, 10k or 1m)"
            ) from None
        if size < 1 or size > 2_000_000:
            raise ValueError(f"a catalog size must be between 1 and 2m, got {part.strip()!r}")
        sizes.append(size)
    return sizes


def synthetic_queries(count: int = QUERY_COUNT, seed: int = DEFAULT_SEED) -> list[str]:
    from apidb.synthetic import vocabulary

    areas = vocabulary()[0]
    rng = random.Random(seed + 1)
    queries = []
    for _ in range(count):
        resource = rng.choice(rng.choice(areas).resources)
        template = rng.choice(_QUERY_TEMPLATES)
        queries.append(template.format(one=resource.singular, many=resource.plural))
    return queries


def measure(
    size: int,
    embedder_factory: EmbedderFactory,
    config: RetrieverConfig,
    *,
    log: Callable[[str], None] | None = None,
) -> ScaleFigures:
    """One size, in this process (the CLI runs each in a child: `measure_in_child`)."""
    from retriever.benchmark import measure_updates
    from retriever.hybrid import SERVICE_SAVE_DELAY_S, HybridRetriever

    say = log or (lambda _message: None)
    embedder = embedder_factory()
    with tempfile.TemporaryDirectory(prefix="toolroute-scale-") as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        try:
            say(f"{size:,} APIs: writing the synthetic catalog")
            store.upsert_many(synthetic_docs(size))
            index_dir = Path(scratch) / "index"
            retriever = HybridRetriever(store, embedder, index_dir, config)
            # As a service runs it: index saves deferred, not one 200 MB write per change.
            retriever.save_delay_s = SERVICE_SAVE_DELAY_S
            started = time.perf_counter()
            retriever.build(progress=_progress_logger(size, say))
            build_s = time.perf_counter() - started
            index_mb = sum(f.stat().st_size for f in index_dir.iterdir()) / 2**20
            say(f"{size:,} APIs: built in {build_s:.0f} s; timing {QUERY_COUNT} searches")
            latencies = []
            for query in synthetic_queries():
                started = time.perf_counter()
                retriever.search(query, 5)
                latencies.append((time.perf_counter() - started) * 1000)
            add_ms, _delete_ms = measure_updates(retriever, rounds=UPDATE_ROUNDS)
        finally:
            store.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ScaleFigures(
        build_s=round(build_s, 1),
        peak_rss_mb=round(peak_rss_mb, 1),
        index_mb=round(index_mb, 1),
        p50_ms=round(statistics.median(latencies), 2),
        p99_ms=round(_percentile(latencies, 99), 2),
        add_ms=add_ms,
    )


def measure_in_child(
    size: int, model_path: Path, precision: Precision, config: RetrieverConfig
) -> ScaleFigures:
    """`measure` in a fresh Python process (`python -m retriever.scale`), which loads the
    model from `model_path`; its progress lines go to this process's stderr."""
    command = [
        sys.executable,
        "-m",
        "retriever.scale",
        str(size),
        str(model_path),
        precision,
        json.dumps(asdict(config)),
    ]
    # No timeout: 100k APIs take many minutes to embed on 2 cores, and progress shows.
    finished = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if finished.returncode != 0:
        raise RetrieverError(
            f"the {size:,}-API measurement failed (exit status {finished.returncode}; "
            "its error is above)"
        )
    try:
        return ScaleFigures(**json.loads(finished.stdout.strip().splitlines()[-1]))
    except (ValueError, TypeError, IndexError) as exc:
        raise RetrieverError(f"the {size:,}-API measurement printed no figures: {exc}") from exc


def _main(argv: list[str]) -> None:
    """The child: `python -m retriever.scale SIZE MODEL_DIR PRECISION CONFIG_JSON`; one
    JSON line out."""
    from retriever.embedder import SentenceTransformerEmbedder

    size, model_path = int(argv[0]), Path(argv[1])
    if argv[2] not in ("fp32", "int8"):
        raise SystemExit(f"unknown precision {argv[2]!r}")
    precision: Precision = "int8" if argv[2] == "int8" else "fp32"
    config = RetrieverConfig(**json.loads(argv[3]))
    figures = measure(
        size,
        lambda: SentenceTransformerEmbedder(model_path, precision=precision),
        config,
        log=_stderr_line,
    )
    print(json.dumps(asdict(figures)), flush=True)


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _progress_logger(size: int, say: Callable[[str], None]) -> Callable[[int, int], None]:
    """Progress every 10% (lines, not a bar: the child's stderr may not be a terminal)."""
    next_share = [0.1]

    def report(done: int, total: int) -> None:
        if total and done / total >= next_share[0]:
            say(f"{size:,} APIs: embedded {done:,}/{total:,} docs")
            next_share[0] = (int(done * 10 / total) + 1) / 10

    return report


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


if __name__ == "__main__":
    _main(sys.argv[1:])
