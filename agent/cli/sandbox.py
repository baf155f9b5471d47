"""`toolroute sandbox run`: a snippet through the sandbox, judged against the catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import (
    JsonFlag,
    open_store,
    out,
    print_json,
    sandbox_app,
    settings,
)
from agent.sandbox.modes import RunMode

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- sandbox


@sandbox_app.command("run")
def sandbox_run(
    source: Annotated[str, typer.Argument(help="A file of Python code, or - for stdin.")],
    mode: Annotated[
        RunMode,
        typer.Option(
            "--mode", help="simulated: recording stand-ins; live: real allow-listed callables."
        ),
    ] = "simulated",
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
        mode=mode,
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
