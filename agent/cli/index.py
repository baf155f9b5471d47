"""`toolroute index build | tune`: the search index and its embedder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    TUNED_MODEL_NAME,
    JsonFlag,
    attach_reranker,
    catalog_embedder_with_progress,
    index_app,
    open_store,
    out,
    print_json,
    progress_bar,
    settings,
)

if TYPE_CHECKING:
    pass


@index_app.command("build")
def index_build(as_json: JsonFlag = False) -> None:
    """Index the whole catalog from scratch (BM25 + dense)."""
    from retriever import HybridRetriever

    config = settings()
    store = open_store()
    embedder = catalog_embedder_with_progress(store, show_progress=not as_json)
    retriever = HybridRetriever(
        store, embedder, config.index_dir, config.retriever_config(embedder)
    )
    with progress_bar("Embedding API docs", not as_json) as tick:
        stats = retriever.build(progress=tick)
    attach_reranker(retriever, show_progress=not as_json)
    result = {
        "docs": stats.docs,
        "seconds": round(stats.seconds, 2),
        "index_dir": str(config.index_dir),
        "embedder": embedder.name,
        "index_type": config.index_type,
        "rerank": config.rerank,
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
    from_feedback: Annotated[
        bool,
        typer.Option(
            "--from-feedback",
            help="Also train on the tasks people approved (feedback above zero).",
        ),
    ] = False,
    epochs: Annotated[int, typer.Option(min=1, max=20, help="Passes over the pairs.")] = 1,
    hard_negatives: Annotated[
        bool,
        typer.Option(
            help="Pair each request with a wrong API that the shipped model ranks high for it "
            "(indexes the pairs' hubs once more; the default model's recipe)."
        ),
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fine-tune the embedder on (request, API) pairs; then point TOOLROUTE_EMBEDDER_MODEL
    at the result and the index rebuilds with it."""
    from retriever.tuning import (
        TuningSettings,
        apibench_training_pairs,
        load_training_pairs,
        pairs_from_ids,
        tune_with_negatives,
    )

    config = settings()
    store = open_store()
    target = out_dir or config.data_dir / "models" / TUNED_MODEL_NAME
    training = load_training_pairs(pairs, store) if pairs else apibench_training_pairs(store)
    source: dict[str, object] = (
        {"pairs_file": str(pairs)} if pairs else {"apibench_splits": ["train", "dev"]}
    )
    if from_feedback:
        from agent.tasks import TaskStore

        tasks = TaskStore(config.tasks_database_url)
        try:
            approved = pairs_from_ids(store, tasks.approved_pairs())
        finally:
            tasks.close()
        training += approved
        source["feedback_tasks"] = len(approved)
    with progress_bar(f"Tuning on {len(training):,} pairs", not as_json) as tick:
        result = tune_with_negatives(
            training,
            store,
            target,
            negatives=hard_negatives,
            base_model=config.embedder_model,
            settings=TuningSettings(epochs=epochs),
            replace=force,
            progress=tick,
            source=source,
        )
    summary = {
        "model_dir": str(result.path),
        "pairs": result.pairs,
        "training_data": source,
        "epochs": epochs,
        "hard_negatives": hard_negatives,
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
