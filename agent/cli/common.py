"""What every `toolroute` command shares: the Typer apps, the consoles, the settings, the
catalog and index openers, progress output and the choices the packages define.

Nothing heavy is imported here: `toolroute --help` loads Typer and these names only, and a
command imports torch, faiss or llama.cpp when it runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console

from agent.jsontypes import JSONObject
from apidb.names import ApibenchHub

if TYPE_CHECKING:
    from agent.settings import Settings
    from apidb import APIDoc, CatalogStore
    from retriever import Hit, HybridRetriever
    from retriever.embedder import SentenceTransformerEmbedder

app = typer.Typer(
    name="toolroute",
    # Click's plain help: rich's help renderer alone costs ~100 ms of every `--help`.
    rich_markup_mode=None,
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
keys_app = typer.Typer(help="Manage the REST API's keys.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Run code in the sandbox.", no_args_is_help=True)
for sub, name in (
    (apis_app, "apis"),
    (index_app, "index"),
    (bench_app, "bench"),
    (router_app, "router"),
    (eval_app, "eval"),
    (keys_app, "keys"),
    (sandbox_app, "sandbox"),
):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            sys.stdout.write(f"toolroute {version('toolroute')}\n")
        except PackageNotFoundError:
            sys.stdout.write("toolroute (not installed)\n")
        raise typer.Exit()


@app.callback()
def _main_options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Natural language in, a verified API call out."""


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
HubOption = Annotated[str | None, typer.Option("--hub", help="Only APIs from this hub.")]
TUNED_MODEL_NAME = "minilm-tuned"  # `index tune`'s default output, under DATA/models

# Choices are the packages' own Literal types (Typer offers their values), so the CLI
# cannot drift from what the packages accept.
HubChoice = Literal["all", ApibenchHub]


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The TOOLROUTE_* settings; a bad value is a `ConfigError` naming the variable."""
    from pydantic import ValidationError

    from agent.errors import ConfigError
    from agent.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "TOOLROUTE_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{where}: {first['msg']}") from None


def open_store() -> CatalogStore:
    """The catalog, seeded with the APIBench APIs the first time a data dir is used."""
    from apidb import CatalogStore
    from apidb.bundled import seed_default_catalog

    store = CatalogStore(settings().catalog_location)
    seed_default_catalog(store)
    return store


def checked_hub(store: CatalogStore, hub: str | None) -> str | None:
    """The hub a `--hub` means (by name or slug), checked against the catalog before any
    model loads. Raises `ConfigError` naming the hubs there are."""
    if hub is None:
        return None
    from agent.errors import ConfigError
    from apidb.names import hub_key

    key, known = hub_key(hub), store.hubs()
    if key not in known:
        raise ConfigError(
            f"unknown hub {hub!r}; known hubs: {', '.join(known) or 'none (the catalog is empty)'}"
        )
    return key


def open_retriever(store: CatalogStore, *, show_progress: bool) -> HybridRetriever:
    from retriever import HybridRetriever

    config = settings()
    embedder = catalog_embedder_with_progress(store, show_progress=show_progress)
    with progress_bar("Building the search index", show_progress) as tick:
        retriever = HybridRetriever.open(
            store, embedder, config.index_dir, config.retriever_config(embedder), progress=tick
        )
    attach_reranker(retriever, show_progress=show_progress)
    return retriever


def attach_reranker(retriever: HybridRetriever, *, show_progress: bool) -> None:
    """With `TOOLROUTE_RERANK=on`, the reranker stage (trained the first time)."""
    from agent.embedding import catalog_reranker

    with progress_bar("Training the reranker (once)", show_progress) as tick:
        retriever.reranker = catalog_reranker(settings(), retriever, progress=tick)


def catalog_embedder_with_progress(
    store: CatalogStore, *, show_progress: bool
) -> SentenceTransformerEmbedder:
    """The catalog's embedder; the first time, training the default tuned model shows its
    progress (a few minutes on 2 cores)."""
    from agent.embedding import catalog_embedder

    # It ticks only when it trains.
    with progress_bar(
        "Tuning the embedder on APIBench's training data (once)", show_progress
    ) as tick:
        return catalog_embedder(settings(), store, progress=tick)


def rich_progress(*, disable: bool = False) -> Any:
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
def progress_bar(label: str, as_bar: bool) -> Iterator[Callable[[int, int], None]]:
    """Progress on stderr (never on stdout, which may be JSON), always: long work is never
    silent. A rich bar when `as_bar` and stderr is a terminal; otherwise (a pipe, a CI log,
    `--json`) a plain line every 10% or 10 s."""
    if not as_bar or not err.is_terminal:
        yield progress_lines(label)
        return
    with rich_progress() as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def progress_lines(label: str) -> Callable[[int, int], None]:
    import time

    last_at, last_tenth = time.monotonic(), -1

    def tick(done: int, total: int) -> None:
        nonlocal last_at, last_tenth
        tenth = 10 * done // total if total else -1
        now = time.monotonic()
        if tenth != last_tenth or now - last_at >= 10 or done == total:
            last_at, last_tenth = now, tenth
            sys.stderr.write(f"{label}: {done}/{total or '?'}\n")
            sys.stderr.flush()

    return tick


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def doc_summary(doc: APIDoc) -> JSONObject:
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


def hit_summary(rank: int, hit: Hit) -> JSONObject:
    return {"rank": rank, **doc_summary(hit.doc), "score": hit.score, "ranks": hit.ranks}


def setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("faiss").setLevel(logging.ERROR)
