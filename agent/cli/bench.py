"""`toolroute bench ...`: the benchmarks behind BENCHMARKS.md."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli.common import (
    HubChoice,
    JsonFlag,
    bench_app,
    catalog_embedder_with_progress,
    err,
    open_retriever,
    open_store,
    out,
    print_json,
    progress_bar,
    progress_lines,
    rich_progress,
    settings,
)
from agent.jsontypes import JSONObject
from retriever.config import RetrieverConfig, Split

if TYPE_CHECKING:
    from retriever.embedder import SentenceTransformerEmbedder


@bench_app.command("retrieval")
def bench_retrieval(
    hub: Annotated[HubChoice, typer.Option(help="Which APIBench hub.")] = "all",
    split: Annotated[
        Split,
        typer.Option(
            help="the held-out 80% (published figures), the dev 20% (choices and training), "
            "all, or torchhub train."
        ),
    ] = "heldout",
    reuse_index: Annotated[
        bool,
        typer.Option(
            "--reuse-index", help="Use the data dir's index instead of timing a fresh build."
        ),
    ] = False,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Instead of APIBench: build, search and update synthetic catalogs of these "
            "sizes (e.g. 1k,10k,100k), each in its own process.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recall, MRR, domain accuracy and latency of bm25, dense and hybrid on APIBench;
    with --scale, build time, memory, index size, latency and update time by catalog size."""
    from retriever.benchmark import all_hubs, run_retrieval_benchmark
    from retriever.scale import parse_sizes

    try:  # before any model loads
        sizes = parse_sizes(scale) if scale is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scale") from None
    config = settings()
    store = open_store()
    embedder = catalog_embedder_with_progress(store, show_progress=not as_json)
    if sizes is not None:
        _bench_scale(sizes, embedder, config.retriever_config(embedder), as_json=as_json)
        return
    # The reranker is trained (once) with the data dir's own index, then scored on the
    # benchmark's fresh one.
    reranker = (
        open_retriever(store, show_progress=not as_json).reranker if config.rerank == "on" else None
    )
    with _question_progress(not as_json) as progress:
        result = run_retrieval_benchmark(
            store,
            embedder,
            hubs=all_hubs(hub),
            split=split,
            config=config.retriever_config(embedder),
            index_dir=config.index_dir if reuse_index else None,
            progress=progress,
            reranker=reranker,
        )
    index_figures = {
        "build_s": result.build_seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "add_ms": result.add_ms,
        "delete_ms": result.delete_ms,
    }
    from retriever.tuning import is_contaminated, trained_on_splits

    # Every figure says which questions and which model: figures on questions the model
    # was trained on are marked, so nobody mistakes them for held-out ones.
    contaminated = is_contaminated(split, trained_on_splits(embedder.path))
    labels = {
        "split": split,
        "embedder": embedder.name,
        "contaminated": contaminated,
        "rerank": config.rerank,
    }
    report: dict[str, dict[str, JSONObject]] = {
        hub_name: {
            mode: {**figures, **index_figures, **labels} for mode, figures in by_mode.items()
        }
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
    from rich.table import Table  # here: 20 ms of every start

    warning = {True: ", CONTAMINATED: the model was trained on these", None: ", overlap unknown"}
    table = Table(
        title=f"Retrieval on APIBench ({split} questions{warning.get(contaminated, '')}; "
        f"embedder {embedder.name}; index of {result.docs:,} APIs "
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


def _bench_scale(
    sizes: list[int],
    embedder: SentenceTransformerEmbedder,
    config: RetrieverConfig,
    *,
    as_json: bool,
) -> None:
    from agent.embedding import precision_for_size
    from retriever.scale import measure_in_child

    by_size: dict[str, JSONObject] = {}
    chosen = settings().embedder_precision
    for size in sizes:
        # What a new index of this size would use (`auto`: int8 from INT8_FROM_APIS).
        precision = precision_for_size(size) if chosen == "auto" else chosen
        err.print(
            f"Measuring a synthetic catalog of {size:,} APIs "
            f"(embedder {embedder.name}, {precision})"
        )
        figures = measure_in_child(size, embedder.path, precision, config)
        by_size[str(size)] = {**asdict(figures), "precision": precision}
        if not as_json:
            out.print(
                f"{size:>9,} APIs ({precision}): build {figures.build_s:.1f} s, peak RSS "
                f"{figures.peak_rss_mb:.0f} MB, index {figures.index_mb:.1f} MB, search p50 "
                f"{figures.p50_ms:.1f} ms / p99 {figures.p99_ms:.1f} ms, "
                f"add {figures.add_ms:.0f} ms"
            )
    if as_json:
        print_json({"scale": by_size, "embedder": embedder.name, "index_type": config.index_type})


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
    from rich.table import Table  # here: 20 ms of every start

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
    from rich.table import Table  # here: 20 ms of every start

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
    if not enabled or not err.is_terminal:

        @contextmanager
        def per_run_lines(label: str, total: int) -> Iterator[Callable[[], None]]:
            done, tick = [0], progress_lines(label)

            def advance() -> None:
                done[0] += 1
                tick(done[0], total)

            yield advance

        yield per_run_lines
        return
    with rich_progress() as bar:

        @contextmanager
        def per_run(label: str, total: int) -> Iterator[Callable[[], None]]:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
            bar.remove_task(task)

        yield per_run


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

    docs = list(open_store().iter_docs())
    with rich_progress(disable=as_json) as bar:
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
