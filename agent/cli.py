"""The `toolroute` command line.

Heavy libraries load inside the commands that need them, so `toolroute --help` stays fast.
Errors from the packages become one friendly line on stderr and exit code 2, here at the
edge and nowhere else.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.settings import Settings
from apidb import APIDoc, CatalogError, CatalogStore

if TYPE_CHECKING:
    from retriever import Hit, HybridRetriever

app = typer.Typer(
    name="toolroute",
    help="Natural language in, a verified API call out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
apis_app = typer.Typer(help="Manage the API catalog.", no_args_is_help=True)
index_app = typer.Typer(help="Build the search index or tune its embedder.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
router_app = typer.Typer(help="Inspect or reset the bandit router.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate toolroute on benchmarks.", no_args_is_help=True)
app.add_typer(apis_app, name="apis")
app.add_typer(index_app, name="index")
app.add_typer(bench_app, name="bench")
app.add_typer(router_app, name="router")
app.add_typer(eval_app, name="eval")
keys_app = typer.Typer(help="Manage the REST API's keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
HubOption = Annotated[str | None, typer.Option("--hub", help="Only APIs from this hub.")]
TUNED_MODEL_NAME = "minilm-tuned"  # `index tune`'s default output, under DATA/models


class ImportFormat(StrEnum):
    apibench = "apibench"
    openai_tools = "openai-tools"
    openapi = "openapi"


class Mode(StrEnum):
    hybrid = "hybrid"
    bm25 = "bm25"
    dense = "dense"


class BenchHub(StrEnum):
    all = "all"
    huggingface = "huggingface"
    torchhub = "torchhub"
    tensorflowhub = "tensorflowhub"


class BenchSplit(StrEnum):
    all = "all"
    dev = "dev"
    heldout = "heldout"
    train = "train"


# --------------------------------------------------------------------------- plumbing


@contextmanager
def edge() -> Iterator[None]:
    """Turn the packages' errors into one line on stderr and exit code 2."""
    from agent.errors import AgentError
    from retriever import RetrieverError
    from router import RouterError

    try:
        yield
    except (CatalogError, RetrieverError, AgentError, RouterError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def open_store() -> CatalogStore:
    """The catalog, seeded with the APIBench APIs the first time a data dir is used."""
    from apidb.bundled import seed_default_catalog

    store = CatalogStore(settings().catalog_path)
    seed_default_catalog(store)
    return store


def open_retriever(store: CatalogStore, *, show_progress: bool) -> HybridRetriever:
    from retriever import HybridRetriever
    from retriever.embedder import SentenceTransformerEmbedder

    config = settings()
    embedder = SentenceTransformerEmbedder(config.embedder_model)
    with progress_bar("Building the search index", show_progress) as tick:
        return HybridRetriever.open(
            store, embedder, config.index_dir, config.retriever_config(), progress=tick
        )


def _rich_progress(*, disable: bool = False) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable,
    )


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (never on stdout, which may be JSON)."""
    if not enabled:
        yield lambda done, total: None
        return
    with _rich_progress() as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def doc_summary(doc: APIDoc) -> dict[str, Any]:
    return {
        "id": doc.id,
        "hub": doc.hub,
        "kind": doc.kind,
        "domain": doc.domain,
        "name": doc.name,
        "call": doc.call,
        "description": doc.description,
        "version": doc.version,
    }


def hit_summary(rank: int, hit: Hit) -> dict[str, Any]:
    return {"rank": rank, **doc_summary(hit.doc), "score": hit.score, "ranks": hit.ranks}


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("faiss").setLevel(logging.ERROR)


# --------------------------------------------------------------------------- commands


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What you want to do, in your words.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many APIs to return (1-100).")] = 5,
    hub: HubOption = None,
    mode: Annotated[Mode, typer.Option(help="hybrid, or one side alone.")] = Mode.hybrid,
    as_json: JsonFlag = False,
) -> None:
    """Find the APIs that match a request."""
    with edge():
        store = open_store()
        retriever = open_retriever(store, show_progress=not as_json)
        hits = retriever.search(query, k, hub=hub, mode=mode.value)
    if as_json:
        print_json(
            {
                "query": query,
                "hub": hub,
                "k": k,
                "mode": mode.value,
                "hits": [hit_summary(rank, hit) for rank, hit in enumerate(hits, start=1)],
            }
        )
        return
    table = Table(title=f"APIs for: {query}", show_lines=False)
    for column in ("#", "score", "id", "domain", "call"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.doc.id, hit.doc.domain, hit.doc.call)
    out.print(table)


@index_app.command("build")
def index_build(as_json: JsonFlag = False) -> None:
    """Index the whole catalog from scratch (BM25 + dense)."""
    from retriever import HybridRetriever
    from retriever.embedder import SentenceTransformerEmbedder

    with edge():
        config = settings()
        store = open_store()
        embedder = SentenceTransformerEmbedder(config.embedder_model)
        retriever = HybridRetriever(store, embedder, config.index_dir, config.retriever_config())
        with progress_bar("Embedding API docs", not as_json) as tick:
            stats = retriever.build(progress=tick)
    result = {
        "docs": stats.docs,
        "seconds": round(stats.seconds, 2),
        "index_dir": str(config.index_dir),
        "embedder": embedder.name,
        "index_type": config.index_type,
    }
    if as_json:
        print_json(result)
    else:
        out.print(
            f"Indexed {stats.docs:,} APIs in {stats.seconds:.1f} s "
            f"({embedder.name}, {config.index_type}) -> {config.index_dir}"
        )


@index_app.command("tune")
def index_tune(
    pairs: Annotated[
        Path | None,
        typer.Option(
            help='JSON Lines of {"query": ..., "api_id": ...} (default: the bundled '
            "torchhub training questions)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the tuned model (default: DATA/models/minilm-tuned)."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=20, help="Passes over the pairs.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fine-tune the embedder on (request, API) pairs; then point TOOLROUTE_EMBEDDER_MODEL
    at the result and the index rebuilds with it."""
    from retriever.tuning import (
        TuningSettings,
        apibench_training_pairs,
        load_training_pairs,
        tune_embedder,
    )

    with edge():
        config = settings()
        store = open_store()
        target = out_dir or config.data_dir / "models" / TUNED_MODEL_NAME
        training = load_training_pairs(pairs, store) if pairs else apibench_training_pairs(store)
        with progress_bar(f"Tuning on {len(training):,} pairs", not as_json) as tick:
            result = tune_embedder(
                training,
                target,
                base_model=config.embedder_model,
                settings=TuningSettings(epochs=epochs),
                replace=force,
                progress=tick,
            )
    summary = {
        "model_dir": str(result.path),
        "pairs": result.pairs,
        "epochs": epochs,
        "seconds": round(result.seconds, 1),
        "final_loss": round(result.final_loss, 4),
    }
    if as_json:
        print_json(summary)
        return
    out.print(
        f"Tuned on {result.pairs:,} pairs in {result.seconds:.0f} s -> {result.path}\n"
        f"Use it: TOOLROUTE_EMBEDDER_MODEL={result.path} toolroute index build",
        highlight=False,
    )


@apis_app.command("import")
def apis_import(
    file: Annotated[Path, typer.Argument(help="The file to import.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", help="The file's format.")],
    hub: Annotated[
        str | None, typer.Option(help="Hub to file the APIs under (default: from the file).")
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Do not update the search index now.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add or update APIs from a file. All of it is applied, or none of it."""
    from apidb import load_file

    with edge():
        docs = load_file(file, fmt.value, hub=hub)
        store = open_store()
        # Load an existing index before writing, so that sync() below indexes exactly
        # this import (and a missing index is simply built at the next search).
        retriever = None
        if not no_index and (settings().index_dir / "manifest.json").exists():
            retriever = open_retriever(store, show_progress=False)
        from agent.catalog import CatalogWriter

        summary = CatalogWriter(store, settings().code_origins()).import_docs(docs)
        indexed = retriever.sync() if retriever is not None else 0
    result = {
        "file": str(file),
        "format": fmt.value,
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "indexed": indexed,
    }
    if as_json:
        print_json(result)
    else:
        out.print(
            f"Imported {len(docs)} APIs from {file}: {summary.added} added, "
            f"{summary.updated} updated, {summary.unchanged} unchanged."
        )


@apis_app.command("list")
def apis_list(
    hub: HubOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List APIs in the catalog, ordered by id."""
    with edge():
        store = open_store()
        docs = store.list_docs(hub=hub, limit=limit, offset=offset)
        total = store.count(hub=hub)
    if as_json:
        print_json({"total": total, "offset": offset, "apis": [doc_summary(d) for d in docs]})
        return
    table = Table(title=f"{total:,} APIs" + (f" in {hub}" if hub else ""))
    for column in ("id", "kind", "domain", "call", "v"):
        table.add_column(column, overflow="fold")
    for doc in docs:
        table.add_row(doc.id, doc.kind, doc.domain, doc.call, str(doc.version))
    out.print(table)


@apis_app.command("rm")
def apis_rm(
    doc_id: Annotated[str, typer.Argument(metavar="ID", help="The API's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove an API from the catalog (and from the index at its next use)."""
    with edge():
        open_store().delete(doc_id)
    if as_json:
        print_json({"deleted": doc_id})
    else:
        out.print(f"Removed {doc_id}.")


@bench_app.command("retrieval")
def bench_retrieval(
    hub: Annotated[BenchHub, typer.Option(help="Which APIBench hub.")] = BenchHub.all,
    split: Annotated[
        BenchSplit,
        typer.Option(help="all questions, the dev 20%, the held-out 80%, or torchhub train."),
    ] = BenchSplit.all,
    reuse_index: Annotated[
        bool,
        typer.Option(
            "--reuse-index", help="Use the data dir's index instead of timing a fresh build."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recall, MRR, domain accuracy and latency of bm25, dense and hybrid on APIBench."""
    from retriever.benchmark import all_hubs, run_retrieval_benchmark
    from retriever.embedder import SentenceTransformerEmbedder

    with edge():
        config = settings()
        embedder = SentenceTransformerEmbedder(config.embedder_model)
        with _question_progress(not as_json) as progress:
            result = run_retrieval_benchmark(
                open_store(),
                embedder,
                hubs=all_hubs(hub.value),
                split=split.value,
                config=config.retriever_config(),
                index_dir=config.index_dir if reuse_index else None,
                progress=progress,
            )
    index_figures = {
        "build_s": result.build_seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "add_ms": result.add_ms,
        "delete_ms": result.delete_ms,
    }
    report: dict[str, dict[str, dict[str, Any]]] = {
        hub_name: {mode: {**figures, **index_figures} for mode, figures in by_mode.items()}
        for hub_name, by_mode in result.figures.items()
    }
    if as_json:
        print_json(report)
        return
    updates = (
        f"; add one doc {result.add_ms:.0f} ms, delete {result.delete_ms:.0f} ms"
        if result.add_ms is not None and result.delete_ms is not None
        else ""
    )
    verb = "loaded" if reuse_index else "built"
    table = Table(
        title=f"Retrieval on APIBench ({split.value} questions; index of {result.docs:,} APIs "
        f"{verb} in {result.build_seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB{updates})",
        box=None,
        padding=(0, 1),
    )
    # Short headers so the table fits 80 columns when piped.
    columns = {
        "recall@1": "r@1",
        "recall@5": "r@5",
        "recall@10": "r@10",
        "mrr": "MRR",
        "domain@1": "dom@1",
        "p50_ms": "p50ms",
        "p99_ms": "p99ms",
    }
    table.add_column("hub", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for header in ("n", *columns.values()):
        table.add_column(header, justify="right", no_wrap=True)
    for hub_name, by_mode in result.figures.items():
        for mode, figures in by_mode.items():
            row = [f"{figures[c]:.3f}" if c[0] != "p" else f"{figures[c]:.1f}" for c in columns]
            table.add_row(hub_name, mode, str(figures["n"]), *row)
    out.print(table)


@bench_app.command("ask")
def bench_ask(
    arms: Annotated[
        list[str] | None, typer.Option("--arm", help="Arm to measure (repeatable).")
    ] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="Questions, spread over the hubs.")] = 60,
    seed: Annotated[int, typer.Option(help="Sample seed.")] = 0,
    all_hubs: Annotated[
        bool, typer.Option("--all-hubs", help="Search the whole catalog, not the question's hub.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Warm latency, parse/resolve/ok rates and cost per arm on APIBench questions."""
    from dataclasses import asdict

    from agent.benchmark import run_ask_benchmark, sample_questions

    names = arms or ["template", "llamacpp"]
    questions = sample_questions(n, seed)
    results = []
    with edge():
        store = open_store()
        retriever = open_retriever(store, show_progress=not as_json)
        for arm in names:
            with progress_bar(f"{arm}: {n} questions", not as_json) as tick:
                figures = run_ask_benchmark(
                    settings(),
                    retriever,
                    arm,
                    questions,
                    per_hub=not all_hubs,
                    progress=_counter(tick, n),
                )
            results.append(figures)
    if as_json:
        print_json([asdict(r) for r in results])
        return
    table = Table(title=f"toolroute ask, warm, {n} APIBench questions (seed {seed})", box=None)
    columns = ("arm", "p50 ms", "p95 ms", "parsed", "resolved", "ok", "exact API", "$/1k req")
    for column in columns:
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.arm,
            f"{r.p50_ms:.0f}",
            f"{r.p95_ms:.0f}",
            f"{r.parsed:.3f}",
            f"{r.resolved:.3f}",
            f"{r.ok:.3f}",
            f"{r.exact_api:.3f}",
            f"{r.cost_per_1k_requests:.4f}",
        )
    out.print(table)


def _counter(tick: Callable[[int, int], None], total: int) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        tick(done, total)

    return step


@bench_app.command("router")
def bench_router(as_json: JsonFlag = False) -> None:
    """select + update overhead of every policy with 8 arms."""
    from agent.benchmark import run_router_benchmark

    figures = run_router_benchmark()
    if as_json:
        print_json(figures)
        return
    table = Table(title="Router select + update, 8 arms", box=None)
    for column in ("policy", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for name, f in figures.items():
        table.add_row(name, f"{f['p50_ms']:.4f}", f"{f['p99_ms']:.4f}")
    out.print(table)


@contextmanager
def _question_progress(
    enabled: bool,
) -> Iterator[Callable[[str, int], Any] | None]:
    if not enabled:
        yield None
        return
    with _rich_progress() as bar:

        @contextmanager
        def per_run(label: str, total: int) -> Iterator[Callable[[], None]]:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
            bar.remove_task(task)

        yield per_run


# --------------------------------------------------------------------------- ask


@app.command()
def ask(
    query: Annotated[str, typer.Argument(help="What you want done, in your words.")],
    arm: Annotated[
        str | None, typer.Option("--arm", help="Use this arm instead of routing.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Routing policy for this request (sla, linucb, ...)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many APIs to retrieve (1-100).")] = 5,
    hub: HubOption = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Reward weights 'acc,cost,lat' for this request."),
    ] = None,
    no_execute: Annotated[
        bool, typer.Option("--no-execute", help="Generate the call but do not run it.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Turn a request into a verified API call: retrieve, route, generate, execute, learn."""
    from agent.pipeline import Pipeline
    from router import RewardWeights

    with edge():
        reward_weights = RewardWeights.parse(weights) if weights else None
        store = open_store()
        retriever = open_retriever(store, show_progress=not as_json)
        with Pipeline.open(settings(), retriever=retriever) as pipeline:
            task = pipeline.run(
                query,
                hub=hub,
                k=k,
                arm=arm,
                policy=policy,
                weights=reward_weights,
                execute=not no_execute,
                owner="local",
            )
    if as_json:
        print_json(task)
        return
    _print_task(task)


def _print_task(task: dict[str, Any]) -> None:
    table = Table(title=f"APIs for: {task['query']}", box=None, padding=(0, 1))
    for column in ("#", "score", "id", "call"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(task["hits"], start=1):
        table.add_row(str(rank), f"{hit['score']:.3f}", hit["id"], hit["call"])
    out.print(table)
    routing = task["routing"]
    scores = ", ".join(
        f"{name} {score:.3f}" if score is not None else f"{name} -"
        for name, score in routing["scores"].items()
    )
    out.print(f"[bold]arm[/]       {task['arm']}  (policy {routing['policy']}: {scores or 'n/a'})")
    for fallback in task["fallbacks"]:
        out.print(f"[yellow]fallback[/]  {fallback['arm']} failed: {fallback['error']}")
    out.print(f"[bold]call[/]      {task['call']}", highlight=False)
    out.print(f"[bold]api[/]       {task['api_id'] or '(none: not in the catalog)'}")
    execution = task["execution"]
    if execution is not None:
        colour = "green" if execution["status"] == "ok" else "red"
        out.print(
            f"[bold]execution[/] [{colour}]{execution['status']}[/] {execution['output']}",
            highlight=False,
        )
    reward = "-" if task["reward"] is None else f"{task['reward']:.3f}"
    out.print(
        f"[bold]reward[/]    {reward}   latency {task['latency_ms']:.0f} ms   "
        f"cost ${task['cost']:.6f}   task {task['task_id']}"
    )


@router_app.command("show")
def router_show(as_json: JsonFlag = False) -> None:
    """Per-arm pulls, mean reward, accuracy, cost and latency, and the active policy."""
    with edge(), _opened_router() as router:
        stats = dict(router.stats())
    if as_json:
        print_json(stats)
        return
    weights = stats["weights"]
    table = Table(
        title=f"policy {stats['policy']} (weights acc {weights['accuracy']}, "
        f"cost {weights['cost']}, lat {weights['latency']})"
    )
    for column in ("arm", "pulls", "reward", "accuracy", "cost", "latency ms", "infra fails"):
        table.add_column(column, justify="right")
    for name, arm in stats["arms"].items():
        table.add_row(
            name,
            str(arm["pulls"]),
            _fmt(arm["mean_reward"]),
            _fmt(arm["accuracy"]),
            _fmt(arm["mean_cost"], 6),
            _fmt(arm["mean_latency_ms"], 0),
            str(arm["infra_failures"]),
        )
    out.print(table)


@router_app.command("set")
def router_set(
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="The active policy (thompson, sla, linucb, fixed:ARM, ...)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="Default reward weights 'acc,cost,lat'."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the active policy and/or reward weights (kept in the data dir, like
    `PUT /v1/router`). What the router has learned is kept."""
    from router import PolicyConfigError, RewardWeights

    with edge():
        if policy is None and weights is None:
            raise PolicyConfigError("nothing to set: give --policy and/or --weights")
        reward_weights = RewardWeights.parse(weights) if weights else None
        with _opened_router() as router:
            router.configure(policy=policy, weights=reward_weights)
            stats = dict(router.stats())
    if as_json:
        print_json({"policy": stats["policy"], "weights": stats["weights"]})
        return
    w = stats["weights"]
    out.print(
        f"policy {stats['policy']}, weights acc {w['accuracy']}, cost {w['cost']}, "
        f"lat {w['latency']}"
    )


@router_app.command("reset")
def router_reset(as_json: JsonFlag = False) -> None:
    """Forget what the router learned (the active policy and weights stay)."""
    with edge(), _opened_router() as router:
        router.reset()
    if as_json:
        print_json({"reset": True})
    else:
        out.print("Router state reset.")


@contextmanager
def _opened_router() -> Iterator[Any]:
    """The data dir's router with the pool's settings, closed afterwards."""
    from agent.pool import load_pool, open_router

    router = open_router(settings(), load_pool(settings()))
    try:
        yield router
    finally:
        router.close()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    _let_idle_torch_threads_sleep()
    _setup_logging()
    app()


def _let_idle_torch_threads_sleep() -> None:
    """torch's OpenMP threads busy-wait after every parallel region by default. The
    service embeds one short query per task, so its second thread spun away ~13 ms of CPU
    per task (about a fifth of a task's CPU), taken from the sandboxes running beside it.
    Sleeping threads keep the 2-thread latency at one thread's CPU (see BENCHMARKS.md).
    It must be set before torch loads, hence here; a value from the environment wins."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --------------------------------------------------------------------------- sandbox

sandbox_app = typer.Typer(help="Run code in the sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


class RunModeChoice(StrEnum):
    simulated = "simulated"
    live = "live"


@sandbox_app.command("run")
def sandbox_run(
    source: Annotated[str, typer.Argument(help="A file of Python code, or - for stdin.")],
    mode: Annotated[
        RunModeChoice,
        typer.Option(
            "--mode", help="simulated: recording stand-ins; live: real allow-listed callables."
        ),
    ] = RunModeChoice.simulated,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.1, max=600, help="Wall-clock limit in seconds."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a code snippet in the sandbox, judge it against the catalog and print the outcome.

    Exit status: 0 when the outcome is ok, 1 for any other outcome, 2 for usage errors."""
    from agent.resolve import CallResolver
    from agent.sandbox import SandboxExecutor

    with edge():
        if source == "-":
            code = sys.stdin.read()
        else:
            path = Path(source)
            if not path.is_file():
                raise typer.BadParameter(f"no such file: {source}", param_hint="SOURCE")
            code = path.read_text(errors="replace")
        executor = SandboxExecutor.from_settings(settings())
        resolver = CallResolver(open_store().iter_docs())
        execution = executor.run_code(
            code,
            resolver,
            mode="live" if mode is RunModeChoice.live else "simulated",
            timeout_s=timeout,
        )
    if as_json:
        print_json(execution.to_json())
    else:
        colour = "green" if execution.succeeded else "red"
        out.print(f"[bold {colour}]{execution.status}[/]")
        for record in execution.trace:
            if record.get("entry"):
                api = record.get("api_id") or "(not in the catalog)"
                out.print(f"  {record['path']}  ->  {api}", highlight=False)
        if execution.output:
            out.print(execution.output, highlight=False, markup=False)
    raise typer.Exit(0 if execution.succeeded else 1)


@bench_app.command("sandbox")
def bench_sandbox(
    runs: Annotated[
        int, typer.Option("-n", min=10, help="Sequential runs for the overhead.")
    ] = 200,
    gold: Annotated[
        bool, typer.Option("--gold/--no-gold", help="Also simulate every catalog Python call.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Sandbox overhead (p50/p99), concurrency and busy queue, and the share of catalog
    calls that simulate to their own catalog entry."""
    from agent.benchmark import run_sandbox_benchmark

    with edge():
        docs = list(open_store().iter_docs())
        with _rich_progress(disable=as_json) as bar:
            task = bar.add_task("catalog calls", total=sum(d.kind == "python" for d in docs))
            figures = run_sandbox_benchmark(
                settings(), docs, runs=runs, gold=gold, progress=lambda n: bar.advance(task, n)
            )
    if as_json:
        print_json(figures)
        return
    overhead = figures["overhead"]
    out.print(f"sandbox        {figures['sandbox']}")
    out.print(f"overhead       p50 {overhead['p50_ms']:.1f} ms, p99 {overhead['p99_ms']:.1f} ms")
    out.print(f"concurrency    {figures['concurrency']}")
    if "gold" in figures:
        g = figures["gold"]
        out.print(
            f"catalog calls  ok {g['ok_share']:.1%}, to their own entry "
            f"{g['resolves_to_itself_share']:.1%} of {g['docs']}"
        )


# --------------------------------------------------------------------------- keys


@keys_app.command("create")
def keys_create(
    admin: Annotated[
        bool,
        typer.Option("--admin", help="May write the catalog, change the router, read all tasks."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key: printed once; only its hash is kept (in DATA/api_keys.json)."""
    from agent.service.auth import add_to_keys_file, digest, key_id, new_key

    key = new_key()
    add_to_keys_file(settings().data_dir, digest(key), "admin" if admin else "user")
    scope = "admin" if admin else "user"
    if as_json:
        print_json({"key": key, "id": key_id(digest(key)), "scope": scope})
        return
    out.print(f"{scope} key (shown once; keep it secret): {key}", highlight=False, soft_wrap=True)
    if settings().api_key_list and not admin:
        err.print("note: TOOLROUTE_API_KEYS is set, so the service ignores stored user keys")


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """The stored keys' ids and scopes (keys from TOOLROUTE_* variables are not listed)."""
    from agent.service.auth import key_id, read_keys_file

    stored = read_keys_file(settings().data_dir)
    rows = [{"id": key_id(d), "scope": "user"} for d in stored.get("sha256", [])]
    rows += [{"id": key_id(d), "scope": "admin"} for d in stored.get("admin_sha256", [])]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['id']}  {row['scope']}")


@keys_app.command("revoke")
def keys_revoke(
    key_id_: Annotated[str, typer.Argument(metavar="ID", help="From `keys list`.")],
) -> None:
    """Remove a stored key; a running service stops accepting it at its next start."""
    from agent.service.auth import key_id, read_keys_file, write_keys_file

    stored = read_keys_file(settings().data_dir)
    kept = {name: [d for d in digests if key_id(d) != key_id_] for name, digests in stored.items()}
    if kept == stored:
        err.print(f"[bold red]error:[/] no stored key with id {key_id_!r}", highlight=False)
        raise typer.Exit(2)
    write_keys_file(settings().data_dir, kept)
    out.print(f"revoked {key_id_}")


# --------------------------------------------------------------------------- service


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (TOOLROUTE_HOST; 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (TOOLROUTE_PORT; 8000).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Start the REST service (OpenAPI at /docs; Slack at /slack/events when configured)."""
    import uvicorn

    from agent.service import create_app
    from agent.service.middleware import RequestIdFilter

    config = settings()
    level = log_level.upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

    def show_new_key(key: str, where: str) -> None:
        err.print(
            f"[bold]Created an API key[/] (shown only now; its hash is kept in {where}):\n"
            f"  {key}\nSend it as: Authorization: Bearer {key}",
            highlight=False,
        )

    with edge():
        app_ = create_app(config, on_new_key=show_new_key)
    uvicorn.run(
        app_,
        host=host or config.host,
        port=port or config.port,
        log_config=None,  # our handler above, with request ids
        log_level=log_level.lower(),
        access_log=False,  # the service logs each request itself, with its id
        timeout_graceful_shutdown=int(config.drain_timeout_s) or None,
    )


@bench_app.command("serve")
def bench_serve(
    connections: Annotated[
        int, typer.Option("-c", "--connections", min=1, help="Concurrent connections.")
    ] = 4,
    duration: Annotated[
        float, typer.Option("-d", "--duration", min=5, help="Seconds per phase.")
    ] = 20.0,
    rate: Annotated[
        float, typer.Option(min=1, help="Tasks/s of the paced (open-loop) phase.")
    ] = 25.0,
    overload: Annotated[
        int, typer.Option(min=2, help="Connections multiplier for the overload phase.")
    ] = 4,
    as_json: JsonFlag = False,
) -> None:
    """Load a real server: the most tasks/s it does (wrk), its latency at a fixed rate
    (open loop), then overload (503/429, recovery, no lost task). Runs on a copy of the
    data dir."""
    from agent.errors import LoadTestError
    from agent.service.loadtest import run_load_test

    with edge():
        open_retriever(open_store(), show_progress=not as_json)  # the index must exist
        if not as_json:
            err.print(f"Loading a server for 3 + {3 * duration:g} s...")
        try:
            figures = run_load_test(
                settings().data_dir,
                connections=connections,
                duration_s=duration,
                rate=rate,
                overload=overload,
            )
        except LoadTestError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from exc
    if as_json:
        print_json(figures)
        return
    for name in ("sustained", "paced", "overload"):
        p = figures[name]
        load = f"{p['offered_per_s']:g}/s" if p["offered_per_s"] else f"{p['connections']} conn"
        out.print(
            f"{name:<10} {load:>7}  {p['requests_per_s']:6.1f} req/s  "
            f"p50 {p['p50_ms']:6.1f} ms  p99 {p['p99_ms']:7.1f} ms  status {p['status']}  "
            f"errors {p['errors']}"
        )
    out.print(
        f"recovery {figures['recovery_s']:.2f} s · acknowledged {figures['acknowledged_tasks']} "
        f"· stored {figures['stored_tasks']} · lost {figures['lost_tasks']}"
    )


# --------------------------------------------------------------------------- eval


@eval_app.command("apibench")
def eval_apibench(
    hub: Annotated[str, typer.Option(help="huggingface, torchhub, tensorflowhub or all.")] = "all",
    limit: Annotated[int | None, typer.Option(min=1, help="At most N questions per hub.")] = None,
    sample: Annotated[
        int | None, typer.Option(help="Shuffle the questions with this seed (then --limit).")
    ] = None,
    arms: Annotated[
        str | None,
        typer.Option(help="Comma-separated arms to route between (default: the pool's)."),
    ] = None,
    policy: Annotated[str | None, typer.Option(help="Router policy, or fixed:ARM.")] = None,
    weights: Annotated[
        str | None, typer.Option(help="Reward weights 'accuracy,cost,latency'.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Questions in flight at once.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
        "reports/latest"
    ),
    resume: Annotated[
        bool, typer.Option(help="Continue a run in --out after its last complete line.")
    ] = False,
    reward: Annotated[
        str, typer.Option(help="execution (sandbox outcome) or judge (the AST verdict).")
    ] = "execution",
    counterfactual: Annotated[
        bool,
        typer.Option(help="Also ask every arm every question (per-arm figures and regret)."),
    ] = True,
    plots: Annotated[bool, typer.Option(help="Draw the PNG plots beside the report.")] = True,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Answer on a Ray cluster: its address, auto, or local (start one here); "
            "--workers actors.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the real pipeline over the APIBench eval questions: predictions, metrics.json,
    report.md and plots in --out."""
    from agent.evaluation import EvalOptions, run_evaluation
    from apidb.bundled import APIBENCH_HUBS
    from router import RewardWeights

    with edge():
        hubs = list(APIBENCH_HUBS) if hub == "all" else [hub]
        options = EvalOptions(
            out=out_dir,
            hubs=hubs,
            limit=limit,
            sample_seed=sample,
            arms=[a.strip() for a in arms.split(",") if a.strip()] if arms else None,
            policy=policy,
            weights=RewardWeights.parse(weights) if weights else None,
            workers=workers,
            resume=resume,
            reward_mode=reward,  # type: ignore[arg-type]  # checked by the evaluator
            counterfactual=counterfactual,
            ray=ray,
        )
        retriever = open_retriever(open_store(), show_progress=not as_json)
        with _eval_progress(enabled=not as_json) as on_line:
            result = run_evaluation(settings(), retriever, options, on_line, plots=plots)
    if as_json:
        print_json(result["metrics"])
        return
    table = Table(title=f"APIBench, reward mode {reward}", box=None)
    for column in ("hub", "n", "AST acc", "halluc.", "strict", "exec ok", "$/1k req", "p50 ms"):
        table.add_column(column, justify="right")
    for name, figures in result["metrics"]["hubs"].items():
        f = figures["served"]
        table.add_row(
            name,
            str(f["n"]),
            f"{100 * f['ast_accuracy']:.2f}",
            f"{100 * f['hallucination']:.2f}",
            f"{100 * f['strict_accuracy']:.2f}",
            f"{100 * f['execution_success']:.2f}",
            f"{f['cost_per_1k']:.4f}",
            f"{f['latency_p50_ms']:.1f}",
        )
    out.print(table)
    out.print(f"report: {result['report']}")


@contextmanager
def _eval_progress(enabled: bool) -> Iterator[Callable[[str, dict[str, Any], int], None] | None]:
    """One bar per hub, with the running AST accuracy and cost of what was served."""
    if not enabled:
        yield None
        return
    with _rich_progress() as bar:
        tasks: dict[str, Any] = {}
        totals: dict[str, list[float]] = {}

        def on_line(hub: str, line: dict[str, Any], total: int) -> None:
            if hub not in tasks:
                tasks[hub] = bar.add_task(hub, total=total)
                totals[hub] = [0, 0, 0.0]
            seen = totals[hub]
            seen[0] += 1
            seen[1] += line["ast"] == "correct"
            seen[2] += line["cost"]
            label = (
                f"{hub}: AST {100 * seen[1] / seen[0]:.1f}% · ${1000 * seen[2] / seen[0]:.4f}/1k"
            )
            bar.update(tasks[hub], advance=1, description=label)

        yield on_line


if __name__ == "__main__":
    main()
