"""`toolroute mcp`: toolroute as an MCP server over stdio, for clients that start their
servers as commands (Claude Desktop, IDEs, the SDK's `stdio_client`).

stdout carries the protocol, so everything else (the first index build's progress,
warnings) goes to stderr.
"""

from __future__ import annotations

from agent.cli.common import app, open_retriever, open_store, settings


@app.command()
def mcp() -> None:
    """Serve the MCP tools (search_apis, call_api, feedback) and the catalog over stdio."""
    from importlib.metadata import version

    from agent.mcpserver import build_server, local_backend
    from agent.pipeline import Pipeline

    retriever = open_retriever(open_store(), show_progress=True)
    with Pipeline.open(settings(), retriever=retriever) as pipeline:
        build_server(local_backend(pipeline), version=version("toolroute")).run("stdio")
