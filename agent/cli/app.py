"""`toolroute`: the entry point. It registers every command group and is the one edge
where the packages' errors become a friendly line on stderr and exit code 2."""

from __future__ import annotations

import os
import sys

from agent.cli import (
    ask,
    bench,
    calls,
    catalog,
    evaluate,
    index,
    keys,
    mcp,
    routing,
    sandbox,
    serve,
)
from agent.cli.common import app, err, setup_logging
from agent.errors import TOOLROUTE_ERRORS

# The modules above register their commands on `app` when imported.
COMMAND_MODULES = (ask, bench, calls, catalog, evaluate, index, keys, mcp, routing, sandbox, serve)


def main() -> None:
    let_idle_torch_threads_sleep()
    setup_logging()
    try:
        app()
    except TOOLROUTE_ERRORS as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


def let_idle_torch_threads_sleep() -> None:
    """torch's OpenMP threads busy-wait after every parallel region by default. The
    service embeds one short query per task, so its second thread spun away ~13 ms of CPU
    per task (about a fifth of a task's CPU), taken from the sandboxes running beside it.
    Sleeping threads keep the 2-thread latency at one thread's CPU (see BENCHMARKS.md).
    It must be set before torch loads, hence here; a value from the environment wins."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
