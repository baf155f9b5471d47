"""`toolroute search` and `toolroute apis ...`: the catalog from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import (
    HubOption,
    JsonFlag,
    apis_app,
    app,
    checked_hub,
    doc_summary,
    hit_summary,
    open_retriever,
    open_store,
    out,
    print_json,
    settings,
)
from apidb.names import ImportFormat
from retriever.config import SearchMode


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What you want to do, in your words.")],
    k: Annotated[
        int, typer.Option("-k", "--k", min=1, max=100, help="How many APIs to return (1-100).")
    ] = 5,
    hub: HubOption = None,
    mode: Annotated[SearchMode, typer.Option(help="hybrid, or one side alone.")] = "hybrid",
    as_json: JsonFlag = False,
) -> None:
    """Find the APIs that match a request."""
    store = open_store()
    hub = checked_hub(store, hub)
    retriever = open_retriever(store, show_progress=not as_json)
    hits = retriever.search(query, k, hub=hub, mode=mode)
    if as_json:
        print_json(
            {
                "query": query,
                "hub": hub,
                "k": k,
                "mode": mode,
                "hits": [hit_summary(rank, hit) for rank, hit in enumerate(hits, start=1)],
            }
        )
        return
    from rich.table import Table  # here: 20 ms of every start

    table = Table(title=f"APIs for: {query}", show_lines=False)
    for column in ("#", "score", "id", "domain", "call"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.doc.id, hit.doc.domain, hit.doc.call)
    out.print(table)


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

    docs = load_file(file, fmt, hub=hub)
    store = open_store()
    # Load an existing index before writing, so that sync() below indexes exactly
    # this import (and a missing index is simply built at the next search).
    retriever = None
    if not no_index and (settings().index_dir / "manifest.json").exists():
        retriever = open_retriever(store, show_progress=False)
    from agent.catalog import CatalogWriter

    summary = CatalogWriter(store, settings().code_origins()).import_docs(docs)
    indexed = retriever.sync() if retriever is not None else 0
    hubs = sorted({doc.hub for doc in docs})
    result = {
        "file": str(file),
        "format": fmt,
        "hubs": hubs,
        "apis": len(docs),
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "indexed": indexed,
    }
    if as_json:
        print_json(result)
    else:
        out.print(
            f"Imported {len(docs)} APIs from {file} into hub {', '.join(hubs)}: "
            f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged.",
            highlight=False,
        )


@apis_app.command("list")
def apis_list(
    hub: HubOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List APIs in the catalog, ordered by id."""
    store = open_store()
    hub = checked_hub(store, hub)
    docs = store.list_docs(hub=hub, limit=limit, offset=offset)
    total = store.count(hub=hub)
    if as_json:
        print_json({"total": total, "offset": offset, "apis": [doc_summary(d) for d in docs]})
        return
    from rich.table import Table  # here: 20 ms of every start

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
    open_store().delete(doc_id)
    if as_json:
        print_json({"deleted": doc_id})
    else:
        out.print(f"Removed {doc_id}.")


@apis_app.command("hubs")
def apis_hubs(as_json: JsonFlag = False) -> None:
    """List the catalog's hubs and how many APIs each holds."""
    hubs = open_store().hubs()
    if as_json:
        print_json({"hubs": hubs})
        return
    for name, count in hubs.items():
        out.print(f"{name}\t{count}", highlight=False)


@apis_app.command("show")
def apis_show(
    doc_id: Annotated[str, typer.Argument(metavar="ID", help="The API's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one API: its call, description, parameters and where it came from."""
    doc = open_store().get(doc_id)
    if as_json:
        print_json(doc.model_dump(mode="json", exclude_none=True))
        return
    out.print(f"[bold]{doc.id}[/]  (hub {doc.hub}, {doc.kind}, version {doc.version})")
    for label, value in (("call", doc.call), ("domain", doc.domain), ("source", doc.source)):
        if value:
            out.print(f"{label:12} {value}", highlight=False)
    if doc.description:
        out.print(doc.description, highlight=False)
    if doc.parameters:
        out.print(json.dumps(doc.parameters, indent=2), highlight=False)
