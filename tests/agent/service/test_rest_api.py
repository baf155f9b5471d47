"""The REST API end to end: a real uvicorn server, the real pipeline and sandbox."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx

from tests.agent.service.conftest import ADMIN_AUTH, OTHER_KEY, RESNET_QUERY, LiveServer


def stored_task(server: LiveServer, task_id: str) -> tuple[Any, ...] | None:
    # A separate connection: what another process sees once the reply has arrived.
    with sqlite3.connect(server.data_dir / "tasks.db") as conn:
        row: tuple[Any, ...] | None = conn.execute(
            "SELECT arm, api_id, status FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        return row


def test_a_task_runs_end_to_end_and_is_stored_before_the_reply(
    api: httpx.Client, shared_server: LiveServer
) -> None:
    reply = api.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "good"})
    assert reply.status_code == 201, reply.text
    task = reply.json()
    assert task["call"].startswith("torch.hub.load(")
    assert task["api_id"] == "torchhub/pytorch/vision/resnet50"
    assert task["execution"]["status"] == "ok"
    assert task["execution"]["executor"] == "sandbox"
    assert task["reward"] is not None and task["latency_ms"] > 0
    assert reply.headers["x-request-id"]
    assert stored_task(shared_server, task["id"]) == ("good", task["api_id"], "ok")
    again = api.get(f"/v1/tasks/{task['id']}")
    assert again.status_code == 200 and again.json()["call"] == task["call"]


def test_routed_tasks_use_the_template_arm_and_the_hub_filter(api: httpx.Client) -> None:
    task = api.post("/v1/tasks", json={"query": RESNET_QUERY, "hub": "torchhub", "k": 3}).json()
    assert task["arm"] == "template"
    assert len(task["hits"]) == 3 and all(h["hub"] == "torchhub" for h in task["hits"])


def test_tasks_page_newest_first_with_a_cursor(api: httpx.Client) -> None:
    ids = [
        api.post("/v1/tasks", json={"query": f"{RESNET_QUERY} {i}", "execute": False}).json()["id"]
        for i in range(3)
    ]
    first = api.get("/v1/tasks", params={"limit": 2}).json()
    assert [t["id"] for t in first["items"]] == ids[::-1][:2]
    second = api.get("/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["id"] == ids[0]


def test_feedback_counts_once_per_task_and_key(
    api: httpx.Client, shared_server: LiveServer
) -> None:
    task = api.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "template"}).json()
    before = api.get("/v1/router").json()["arms"]["template"]["feedback_count"]
    first = api.post(f"/v1/tasks/{task['id']}/feedback", json={"score": 1, "comment": "yes"})
    assert first.status_code == 201 and first.json()["recorded"] is True
    repeat = api.post(f"/v1/tasks/{task['id']}/feedback", json={"score": -1})
    assert repeat.status_code == 200 and repeat.json()["recorded"] is False
    other = httpx.post(
        f"{shared_server.url}/v1/tasks/{task['id']}/feedback",
        json={"score": -1},
        headers={"Authorization": f"Bearer {OTHER_KEY}"},
    )
    assert other.status_code == 404  # another key's task does not exist for it
    by_admin = httpx.post(
        f"{shared_server.url}/v1/tasks/{task['id']}/feedback",
        json={"score": 1},
        headers=ADMIN_AUTH,
    )
    assert by_admin.status_code == 201
    after = api.get("/v1/router").json()["arms"]["template"]["feedback_count"]
    assert after == before + 2
    feedback = api.get(f"/v1/tasks/{task['id']}").json()["feedback"]
    assert sorted(f["score"] for f in feedback) == [1, 1]


# ----------------------------------------------------------------------------- bad input


def assert_error(reply: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["type"] == kind
    assert error["request_id"] == reply.headers["x-request-id"]
    return error


def test_malformed_json_is_a_structured_422(api: httpx.Client) -> None:
    reply = api.post(
        "/v1/tasks", content=b'{"query": "x",', headers={"content-type": "application/json"}
    )
    error = assert_error(reply, 422, "validation_error")
    assert error["details"][0]["type"] == "json_invalid"


def test_wrong_types_and_unknown_fields_name_the_field(api: httpx.Client) -> None:
    error = assert_error(
        api.post("/v1/tasks", json={"query": 7, "k": "many"}), 422, "validation_error"
    )
    assert {tuple(d["loc"]) for d in error["details"]} == {("body", "query"), ("body", "k")}
    error = assert_error(
        api.post("/v1/tasks", json={"query": "x", "kk": 3}), 422, "validation_error"
    )
    assert error["details"][0]["loc"] == ["body", "kk"]


def test_unknown_arms_policies_and_hubs_are_422s_that_list_the_valid_names(
    api: httpx.Client,
) -> None:
    error = assert_error(
        api.post("/v1/tasks", json={"query": "x", "arm": "gpt9"}), 422, "invalid_request"
    )
    assert "template" in error["message"]
    error = assert_error(
        api.post("/v1/tasks", json={"query": "x", "policy": "magic"}), 422, "invalid_request"
    )
    assert "linucb" in error["message"]
    assert_error(api.post("/v1/tasks", json={"query": "x", "hub": "nohub"}), 422, "invalid_request")


def test_oversized_bodies_are_413_whether_announced_or_not(api: httpx.Client) -> None:
    big = json.dumps({"query": "x" * 100_000}).encode()
    assert_error(
        api.post("/v1/tasks", content=big, headers={"content-type": "application/json"}),
        413,
        "payload_too_large",
    )

    def chunks() -> Any:  # no Content-Length: the cap must count what arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    reply = api.post("/v1/tasks", content=chunks(), headers={"content-type": "application/json"})
    assert_error(reply, 413, "payload_too_large")


def test_unknown_tasks_are_404(api: httpx.Client) -> None:
    assert_error(api.get("/v1/tasks/nope"), 404, "not_found")
    assert_error(api.post("/v1/tasks/nope/feedback", json={"score": 1}), 404, "not_found")
    assert_error(api.post("/v1/tasks/x/feedback", json={"score": 2}), 422, "validation_error")


def test_keys_are_required_except_for_healthz_and_docs(shared_server: LiveServer) -> None:
    with shared_server.client() as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
        # A load balancer's probe: readiness without a key, but none of the checks' details.
        probe = anonymous.get("/readyz")
        assert probe.status_code == 200 and probe.json() == {"ready": True, "checks": {}}
        bad = anonymous.get("/readyz", headers={"Authorization": "Bearer nope"})
        assert_error(bad, 401, "unauthorized")
        for method, path in [
            ("GET", "/v1/tasks"),
            ("POST", "/v1/tasks"),
            ("GET", "/v1/apis"),
            ("GET", "/v1/router"),
            ("GET", "/metrics"),
            ("POST", "/v1/chat/completions"),
        ]:
            reply = anonymous.request(method, path, json={"query": "x"})
            assert_error(reply, 401, "unauthorized")
            assert reply.headers["www-authenticate"] == "Bearer"
            wrong = anonymous.request(
                method, path, json={"query": "x"}, headers={"Authorization": "Bearer nope"}
            )
            assert_error(wrong, 401, "unauthorized")


def test_a_callers_request_id_is_kept_and_a_bad_one_replaced(api: httpx.Client) -> None:
    assert (
        api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = api.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"


# ----------------------------------------------------------------------------- catalog


WEATHER_TOOL = {
    "id": "functions/lunar_tide_table",
    "hub": "functions",
    "kind": "function",
    "domain": "weather",
    "name": "lunar_tide_table",
    "call": "lunar_tide_table(harbour=...)",
    "description": "Tide times and heights for a harbour, computed from the lunar cycle",
    "parameters": {
        "type": "object",
        "properties": {"harbour": {"type": "string"}},
        "required": ["harbour"],
    },
}


def test_catalog_changes_are_searchable_by_the_next_request(
    api: httpx.Client, admin: httpx.Client
) -> None:
    created = admin.post("/v1/apis", json=WEATHER_TOOL)
    assert created.status_code == 201 and created.json()["version"] == 1
    assert_error(admin.post("/v1/apis", json=WEATHER_TOOL), 409, "conflict")
    task = api.post(
        "/v1/tasks",
        json={"query": "tide times for Brest harbour", "hub": "functions", "execute": False},
    ).json()
    assert task["hits"][0]["id"] == "functions/lunar_tide_table"

    updated = admin.put(
        "/v1/apis/functions/lunar_tide_table",
        json=WEATHER_TOOL | {"description": "Sea level forecasts for a harbour"},
    )
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert (
        api.get("/v1/apis/functions/lunar_tide_table").json()["description"].startswith("Sea level")
    )

    assert admin.delete("/v1/apis/functions/lunar_tide_table").status_code == 204
    assert_error(api.get("/v1/apis/functions/lunar_tide_table"), 404, "not_found")
    assert_error(admin.delete("/v1/apis/functions/lunar_tide_table"), 404, "not_found")


def test_put_creates_and_refuses_a_mismatched_id(admin: httpx.Client) -> None:
    created = admin.put(
        "/v1/apis/functions/tide_two", json=WEATHER_TOOL | {"id": None, "name": "tide_two"}
    )
    assert created.status_code == 201 and created.json()["id"] == "functions/tide_two"
    assert_error(
        admin.put("/v1/apis/functions/tide_two", json=WEATHER_TOOL), 422, "validation_error"
    )


def test_listing_pages_by_id(api: httpx.Client) -> None:
    first = api.get("/v1/apis", params={"hub": "torchhub", "limit": 5}).json()
    assert len(first["items"]) == 5
    second = api.get(
        "/v1/apis", params={"hub": "torchhub", "limit": 5, "cursor": first["next_cursor"]}
    ).json()
    assert second["items"][0]["id"] > first["items"][-1]["id"]


def test_a_half_invalid_import_applies_nothing(admin: httpx.Client) -> None:
    api = admin
    before = api.get("/v1/apis", params={"hub": "tools", "limit": 500}).json()["items"]
    half_bad = [
        {
            "type": "function",
            "function": {
                "name": "ok_tool",
                "description": "fine",
                "parameters": {"type": "object", "properties": {}},
            },
        },
        {"type": "function", "function": {"description": "no name"}},
    ]
    reply = api.post(
        "/v1/apis:import",
        params={"format": "openai-tools", "hub": "tools"},
        content=json.dumps(half_bad),
    )
    assert_error(reply, 422, "invalid_import")
    assert api.get("/v1/apis", params={"hub": "tools", "limit": 500}).json()["items"] == before
    assert_error(
        api.post("/v1/apis:import", params={"format": "openapi"}, content=b"\xff\xfe"),
        422,
        "invalid_import",
    )


def test_an_import_is_searchable_at_once(api: httpx.Client, admin: httpx.Client) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "book_meeting_room",
                "description": "Reserve a meeting room for a time slot",
                "parameters": {
                    "type": "object",
                    "properties": {"room": {"type": "string"}, "start": {"type": "string"}},
                    "required": ["room"],
                },
            },
        },
    ]
    reply = admin.post(
        "/v1/apis:import",
        params={"format": "openai-tools", "hub": "office"},
        content=json.dumps(tools),
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() | {"apis": 1} == {
        "format": "openai-tools",
        "apis": 1,
        "added": 1,
        "updated": 0,
        "unchanged": 0,
    }
    task = api.post(
        "/v1/tasks", json={"query": "reserve a meeting room", "hub": "office", "execute": False}
    ).json()
    assert task["hits"][0]["id"] == "office/book_meeting_room"


# ----------------------------------------------------------------------------- router, health


def test_router_settings_change_and_reset(admin: httpx.Client) -> None:
    api = admin
    api.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "template"})
    shown = api.get("/v1/router").json()
    assert shown["arms"]["template"]["pulls"] >= 1 and "linucb" in shown["policies"]
    changed = api.put(
        "/v1/router", json={"policy": "ucb1", "weights": {"accuracy": 1, "cost": 0.5, "latency": 0}}
    )
    assert changed.status_code == 200 and changed.json()["policy"] == "ucb1"
    assert changed.json()["weights"]["cost"] == 0.5
    assert_error(api.put("/v1/router", json={"policy": "magic"}), 422, "invalid_request")
    assert_error(api.put("/v1/router", json={"weights": {"accuracy": -1}}), 422, "validation_error")
    reset = api.post("/v1/router:reset").json()
    assert all(arm["pulls"] == 0 for arm in reset["arms"].values())
    assert reset["policy"] == "ucb1"  # settings stay
    api.put("/v1/router", json={"policy": "fixed:template"})


def test_ready_and_metrics(api: httpx.Client) -> None:
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert {name for name, check in ready.json()["checks"].items() if check["ok"]} == {
        "index",
        "database",
        "sandbox",
        "accepting",
    }
    api.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "good"})
    text = api.get("/metrics").text
    assert 'toolroute_arm_pulls_total{arm="good"}' in text
    assert 'toolroute_executions_total{status="ok"}' in text
    assert (
        'toolroute_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/tasks"}'
        in text
    )
    assert 'route="/v1/tasks/{task_id}"' in text  # templates, not raw paths
    assert "toolroute_sandbox_queue_depth" in text and "toolroute_reward_bucket" in text
