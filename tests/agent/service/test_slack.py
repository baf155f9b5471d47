"""The Slack bot with signed requests, and a real local HTTP server standing in for Slack's
Web API (the bot's `WebClient(base_url=...)` posts to it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from pydantic import SecretStr

from retriever.embedder import SentenceTransformerEmbedder
from tests.agent.service.conftest import (
    GOOD_CALL,
    LiveServer,
    start_live_server,
)
from tests.fakes import FakeArm

SECRET = "test-signing-secret"


class FakeSlackAPI:
    """Records each Web API call (method name and arguments) and answers `ok`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.posted = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length).decode()
                if self.headers.get("content-type", "").startswith("application/json"):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                with api.posted:
                    api.calls.append((method, args))
                    api.posted.notify_all()
                body = json.dumps(
                    {
                        "ok": True,
                        "ts": "1700000000.000200",
                        "user_id": "UBOT",
                        "bot_id": "B1",
                        "team_id": "T1",
                        "user": "toolroute",
                        "team": "test",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, method: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.posted:
            while len(self.sent(method)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no {method} after {timeout} s; saw {self.calls}"
                self.posted.wait(left)
        return self.sent(method)

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == method]


@pytest.fixture(scope="module")
def slack_api() -> Iterator[FakeSlackAPI]:
    api = FakeSlackAPI()
    yield api
    api.server.shutdown()
    api.server.server_close()


@pytest.fixture(scope="module")
def server(
    small_index_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
    slack_api: FakeSlackAPI,
) -> Iterator[LiveServer]:
    arms = {"good": FakeArm("good", default=GOOD_CALL)}
    live = start_live_server(
        small_index_dir,
        tmp_path_factory.mktemp("slack"),
        embedder,
        arms,
        slack_signing_secret=SecretStr(SECRET),
        slack_bot_token=SecretStr("xoxb-test"),
        slack_api_url=slack_api.url,
    )
    yield live
    live.stop()


def signed(body: str, *, secret: str = SECRET, age_s: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time()) - age_s)
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def mention(event_id: str, text: str) -> str:
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@UBOT> {text}",
                "ts": "1700000000.000100",
                "channel": "C1",
                "event_ts": "1700000000.000100",
            },
        }
    )


def post_event(server: LiveServer, body: str, headers: dict[str, str]) -> httpx.Response:
    headers = {"content-type": "application/json", **headers}
    return httpx.post(f"{server.url}/slack/events", content=body, headers=headers, timeout=30)


def tasks_with(server: LiveServer, query: str) -> int:
    with sqlite3.connect(server.data_dir / "tasks.db") as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM tasks WHERE query = ?", (query,)).fetchone()[0]
        )


def test_a_mention_is_acked_at_once_and_answered_in_the_thread(
    server: LiveServer, slack_api: FakeSlackAPI
) -> None:
    body = mention("Ev100", "classify images with a ResNet-50")
    started = time.monotonic()
    reply = post_event(server, body, signed(body))
    assert reply.status_code == 200 and time.monotonic() - started < 3
    posted = slack_api.wait_for("chat.postMessage")[-1]
    assert posted["channel"] == "C1" and posted["thread_ts"] == "1700000000.000100"
    assert " · ok · arm template" in posted["text"]
    blocks = (
        posted["blocks"] if isinstance(posted["blocks"], list) else json.loads(posted["blocks"])
    )
    buttons = blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["toolroute_feedback_up", "toolroute_feedback_down"]
    assert tasks_with(server, "classify images with a ResNet-50") == 1


def test_retries_and_replays_do_not_run_a_task_twice(
    server: LiveServer, slack_api: FakeSlackAPI
) -> None:
    body = mention("Ev200", "detect objects in a photo")
    assert post_event(server, body, signed(body)).status_code == 200
    slack_api.wait_for("chat.postMessage", count=len(slack_api.sent("chat.postMessage")))
    retry = post_event(
        server,
        body,
        signed(body) | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    replay = post_event(server, body, signed(body))
    assert retry.status_code == 200 and replay.status_code == 200
    time.sleep(1.0)
    assert tasks_with(server, "detect objects in a photo") == 1


@pytest.mark.parametrize("forgery", ["bad-signature", "unsigned", "garbage-timestamp"])
def test_unsigned_and_forged_requests_are_refused(server: LiveServer, forgery: str) -> None:
    body = mention("Ev300", "forged request")
    headers = {
        "bad-signature": signed(body, secret="another-secret"),
        "unsigned": {},
        "garbage-timestamp": signed(body) | {"X-Slack-Request-Timestamp": "soon"},
    }[forgery]
    assert post_event(server, body, headers).status_code == 401
    assert tasks_with(server, "forged request") == 0


def test_a_stale_but_correctly_signed_request_is_refused(server: LiveServer) -> None:
    body = mention("Ev301", "stale request")
    assert post_event(server, body, signed(body, age_s=10 * 60)).status_code == 401
    assert tasks_with(server, "stale request") == 0


def test_the_slash_command_acks_then_posts(server: LiveServer, slack_api: FakeSlackAPI) -> None:
    before = len(slack_api.sent("chat.postMessage"))
    form = urlencode(
        {
            "command": "/toolroute",
            "text": "segment an image",
            "channel_id": "C2",
            "user_id": "U2",
            "team_id": "T1",
            "trigger_id": "trig.1",
            "response_url": "http://127.0.0.1:9/unused",
        }
    )
    reply = httpx.post(
        f"{server.url}/slack/events",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded", **signed(form)},
    )
    assert reply.status_code == 200 and "Working on: segment an image" in reply.text
    posted = slack_api.wait_for("chat.postMessage", count=before + 1)[-1]
    assert posted["channel"] == "C2"


def test_button_clicks_are_feedback_once_per_user(
    server: LiveServer, slack_api: FakeSlackAPI
) -> None:
    before = len(slack_api.sent("chat.postMessage"))
    body = mention("Ev400", "feedback target")
    assert post_event(server, body, signed(body)).status_code == 200
    posted = slack_api.wait_for("chat.postMessage", count=before + 1)[-1]
    blocks = (
        posted["blocks"] if isinstance(posted["blocks"], list) else json.loads(posted["blocks"])
    )
    task_id = blocks[-1]["elements"][0]["value"]
    rest_task_id = httpx.post(
        f"{server.url}/v1/tasks",
        json={"query": "not the bot's task", "arm": "template"},
        headers={"Authorization": "Bearer test-key-alpha"},
    ).json()["id"]

    def click(trigger: str, action_id: str, task_id: str = task_id) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "trigger_id": trigger,
            "user": {"id": "U9"},
            "team": {"id": "T1"},
            "channel": {"id": "C1"},
            "api_app_id": "A1",
            "token": "unused",
            "container": {"type": "message", "message_ts": "1700000000.000200"},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "toolroute_feedback",
                    "value": task_id,
                    "type": "button",
                    "action_ts": "1",
                }
            ],
        }
        form = urlencode({"payload": json.dumps(payload)})
        return httpx.post(
            f"{server.url}/slack/events",
            content=form,
            headers={"content-type": "application/x-www-form-urlencoded", **signed(form)},
        )

    assert click("trig.10", "toolroute_feedback_up").status_code == 200
    first = slack_api.wait_for("chat.postEphemeral")[-1]
    assert first["text"] == "Thanks, noted." and first["user"] == "U9"
    count = len(slack_api.sent("chat.postEphemeral"))
    assert click("trig.11", "toolroute_feedback_down").status_code == 200
    second = slack_api.wait_for("chat.postEphemeral", count=count + 1)[-1]
    assert second["text"] == "You already rated this one."
    feedback = httpx.get(
        f"{server.url}/v1/tasks/{task_id}", headers={"Authorization": "Bearer test-key-admin"}
    ).json()["feedback"]
    assert [(f["source"], f["score"]) for f in feedback] == [("slack:U9", 1)]
    # A forged button value naming a task the bot did not answer changes nothing.
    assert click("trig.12", "toolroute_feedback_down", rest_task_id).status_code == 200
    third = slack_api.wait_for("chat.postEphemeral", count=count + 2)[-1]
    assert third["text"].startswith("Not recorded: no task")


def test_without_credentials_the_route_does_not_exist(start_server: Any) -> None:
    plain = start_server()
    assert httpx.post(f"{plain.url}/slack/events", content="{}").status_code == 404
