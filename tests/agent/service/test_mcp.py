"""The MCP server over streamable HTTP on the live service, through the SDK's own client,
behind the same API keys as the REST API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.agent.service.conftest import (
    API_KEY,
    OTHER_KEY,
    RESNET_QUERY,
    LiveServer,
)


@asynccontextmanager
async def _session(template_server: LiveServer, key: str = API_KEY) -> AsyncIterator[Client]:
    """The SDK's client with the key; the HTTP client it is given is closed here, as the
    SDK leaves a client it did not make open."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{template_server.url}/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


def test_tools_are_listed_with_their_schemas(template_server: LiveServer) -> None:
    async def listing() -> Any:
        async with _session(template_server) as client:
            return await client.list_tools()

    tools = {tool.name: tool for tool in asyncio.run(listing()).tools}
    assert set(tools) == {"search_apis", "call_api", "feedback"}
    assert tools["call_api"].input_schema["required"] == ["request"]
    assert set(tools["search_apis"].input_schema["properties"]) == {"query", "hub", "k"}


def test_search_call_and_feedback_through_the_pipeline(template_server: LiveServer) -> None:
    async def session() -> tuple[Any, Any, Any, Any, Any]:
        async with _session(template_server) as client:
            found = await client.call_tool("search_apis", {"query": RESNET_QUERY, "k": 3})
            called = await client.call_tool("call_api", {"request": RESNET_QUERY})
            task_id = _structured(called)["task_id"]
            rated = await client.call_tool("feedback", {"task_id": task_id, "score": 1})
            again = await client.call_tool("feedback", {"task_id": task_id, "score": 1})
            unknown = await client.call_tool("feedback", {"task_id": "nosuch", "score": 1})
            return found, called, rated, again, unknown

    found, called, rated, again, unknown = asyncio.run(session())
    apis = _structured(found)["apis"]
    assert len(apis) == 3 and apis[0]["id"].startswith("torchhub/")
    call = _structured(called)
    assert call["status"] == "ok" and call["arm"] == "template"
    assert call["call"].startswith("torch.hub.load(") and call["reward"] is not None
    assert _structured(rated)["recorded"] is True
    assert _structured(again)["recorded"] is False  # once per task and source
    assert unknown.is_error


def test_feedback_reaches_only_the_callers_own_tasks(template_server: LiveServer) -> None:
    async def session() -> Any:
        async with _session(template_server) as client:
            called = await client.call_tool("call_api", {"request": RESNET_QUERY})
        async with _session(template_server, OTHER_KEY) as other:
            return await other.call_tool(
                "feedback", {"task_id": _structured(called)["task_id"], "score": -1}
            )

    assert asyncio.run(session()).is_error


def test_the_catalog_is_readable_as_resources(template_server: LiveServer) -> None:
    async def session() -> tuple[Any, Any, Any, Any]:
        async with _session(template_server) as client:
            resources = await client.list_resources()
            templates = await client.list_resource_templates()
            hubs = await client.read_resource("toolroute://hubs")
            hub = json.loads(hubs.contents[0].text)
            first = await client.read_resource(f"toolroute://hubs/{sorted(hub)[0]}")
            api_id = json.loads(first.contents[0].text)[0]["id"]
            doc = await client.read_resource(f"toolroute://apis/{api_id}")
            return resources, templates, hub, (api_id, doc)

    resources, templates, hubs, (api_id, doc) = asyncio.run(session())
    assert [str(r.uri) for r in resources.resources] == ["toolroute://hubs"]
    assert {t.uri_template for t in templates.resource_templates} == {
        "toolroute://hubs/{hub}",
        "toolroute://apis/{+doc_id}",
    }
    assert all(count > 0 for count in hubs.values())
    assert "/" in api_id and json.loads(doc.contents[0].text)["id"] == api_id


def test_the_mcp_endpoint_needs_a_key(template_server: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with httpx.Client(base_url=template_server.url) as http:
        assert http.post("/mcp", json=body).status_code == 401
        wrong = http.post("/mcp", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
