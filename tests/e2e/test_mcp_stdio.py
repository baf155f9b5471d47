"""`toolroute mcp`: the MCP server over stdio, started and driven by the SDK's own client
the way Claude Desktop or an IDE starts it (a command, protocol on stdin/stdout)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from tests.e2e.conftest import cli_env


def test_the_stdio_server_lists_and_calls_its_tools(data_dir: Path) -> None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agent.cli", "mcp"],
        env=cli_env(data_dir),
    )

    async def session() -> tuple[Any, Any, Any]:
        async with Client(server, read_timeout_seconds=300) as client:
            tools = await client.list_tools()
            called = await client.call_tool(
                "call_api", {"request": "translate English text into French"}
            )
            hubs = await client.read_resource("toolroute://hubs")
        return tools, called, hubs

    tools, called, hubs = asyncio.run(session())
    assert {tool.name for tool in tools.tools} == {"search_apis", "call_api", "feedback"}
    result = called.structured_content
    assert not called.is_error and result["status"] == "ok", result
    assert result["api_id"].startswith("huggingface/") and result["task_id"]
    assert '"huggingface": ' in hubs.contents[0].text
