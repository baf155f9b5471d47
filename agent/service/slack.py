"""The Slack bot: an app mention or `/toolroute` runs the pipeline; 👍/👎 are feedback.

Slack wants an answer within 3 s, so Bolt acknowledges first and the listeners do the work
in its thread pool afterwards (`process_before_response=False`). Slack retries a delivery
it thinks failed (`X-Slack-Retry-Num`), and a captured request can be replayed within the
signature's 5-minute window: every delivery's id (`event_id`, or `trigger_id` for commands
and button clicks) is recorded once in the task database, and a repeat does nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qs

from agent.errors import TOOLROUTE_ERRORS, DrainingError, QueueFullError
from agent.jsontypes import JSONObject
from agent.pipeline import TaskRequest

if TYPE_CHECKING:
    from slack_bolt import App, BoltResponse
    from slack_sdk import WebClient

    from agent.service.limits import Admission
    from agent.service.metrics import Metrics
    from agent.settings import Settings
    from agent.task import TaskResult

log = logging.getLogger("toolroute.slack")
T = TypeVar("T")

FEEDBACK_UP = "toolroute_feedback_up"
FEEDBACK_DOWN = "toolroute_feedback_down"
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


class SlackHost(Protocol):
    """What the bot needs of the service it runs in (`ServiceState` is one)."""

    metrics: Metrics
    admission: Admission

    def run_admitted(self, work: Callable[[], T]) -> T: ...

    def run_pipeline(self, request: TaskRequest) -> TaskResult: ...

    def feedback(self, task_id: str, score: int, *, source: str, owner: str | None) -> bool: ...

    def first_delivery(self, key: str, created_at: str) -> bool: ...


class SlackBot:
    def __init__(
        self, app: App, state: SlackHost, signing_secret: str, listeners: ThreadPoolExecutor
    ) -> None:
        from slack_sdk.signature import SignatureVerifier

        self.app = app
        self.state = state
        self._listeners = listeners
        self._verifier = SignatureVerifier(signing_secret)
        self._register()

    @classmethod
    def from_settings(cls, settings: Settings, state: SlackHost) -> SlackBot:
        from slack_bolt import App
        from slack_sdk import WebClient

        assert settings.slack_signing_secret is not None and settings.slack_bot_token is not None
        secret = settings.slack_signing_secret.get_secret_value()
        client = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url or WebClient.BASE_URL,
            timeout=10,
        )
        # Ours, not Bolt's default, so that shutdown can wait for replies still being made.
        listeners = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack")
        app = App(
            signing_secret=secret,
            listener_executor=listeners,
            client=client,
            # No Slack call at start: the service must start offline; the token is checked
            # at the first event instead.
            token_verification_enabled=False,
            process_before_response=False,
        )
        return cls(app, state, secret, listeners)

    def close(self) -> None:
        self._listeners.shutdown(wait=True)

    # -- HTTP ------------------------------------------------------------------------

    def dispatch(self, body: bytes, headers: Mapping[str, str]) -> BoltResponse:
        """One request to `/slack/events`: signature checked, repeats dropped, then Bolt."""
        from slack_bolt import BoltRequest, BoltResponse

        text = body.decode("utf-8", errors="replace")
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        signed = timestamp.isdigit() and self._verifier.is_valid(
            body=text, timestamp=timestamp, signature=lowered.get("x-slack-signature", "")
        )
        if not signed:  # stale timestamp or bad signature: nothing is parsed or run
            return BoltResponse(status=401, body='{"error":"invalid request signature"}')
        key = _delivery_key(text, lowered.get("content-type", ""))
        if key is not None and not self.state.first_delivery(key, _now()):
            retry = lowered.get("x-slack-retry-num")
            log.info("slack: dropping repeated delivery %s (retry %s)", key, retry or "-")
            return BoltResponse(status=200, body="")
        request = BoltRequest(body=text, headers={k: [v] for k, v in lowered.items()})
        return self.app.dispatch(request)

    # -- listeners ---------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_mention)
        app.command("/toolroute")(self._on_command)
        app.action(FEEDBACK_UP)(self._on_feedback)
        app.action(FEEDBACK_DOWN)(self._on_feedback)

    def _on_mention(self, event: JSONObject, client: WebClient) -> None:
        query = _MENTION.sub("", str(event.get("text", ""))).strip()
        thread = event.get("thread_ts") or event.get("ts")
        self._answer(client, str(event.get("channel")), query, thread_ts=thread)

    def _on_command(self, ack: Any, command: JSONObject, client: WebClient) -> None:
        query = str(command.get("text", "")).strip()
        ack(f"Working on: {query}" if query else "Usage: /toolroute <what you want done>")
        if query:
            self._answer(client, str(command.get("channel_id")), query, thread_ts=None)

    def _on_feedback(self, ack: Any, body: JSONObject, client: WebClient) -> None:
        ack()
        action = (body.get("actions") or [{}])[0]
        score = 1 if action.get("action_id") == FEEDBACK_UP else -1
        task_id = str(action.get("value", ""))
        user = str((body.get("user") or {}).get("id", "unknown"))
        channel = str((body.get("channel") or {}).get("id", ""))
        try:
            recorded = self.state.feedback(task_id, score, source=f"slack:{user}", owner="slack")
        except TOOLROUTE_ERRORS as exc:
            client.chat_postEphemeral(channel=channel, user=user, text=f"Not recorded: {exc}")
            return
        if recorded:
            self.state.metrics.feedback.labels("slack", str(score)).inc()
        text = "Thanks, noted." if recorded else "You already rated this one."
        client.chat_postEphemeral(channel=channel, user=user, text=text)

    def _answer(self, client: WebClient, channel: str, query: str, thread_ts: str | None) -> None:
        if not query:
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text="Ask me for something to call."
            )
            return
        try:
            self.state.admission.enter()
        except (QueueFullError, DrainingError) as exc:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=f"Busy: {exc}")
            return
        try:
            request = TaskRequest(query, owner="slack")
            task = self.state.run_admitted(lambda: self.state.run_pipeline(request))
        except TOOLROUTE_ERRORS as exc:  # a bad request, said plainly in the thread
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=f"Error: {exc}")
            return
        text, blocks = render_task(task)
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)


def render_task(task: TaskResult) -> tuple[str, list[JSONObject]]:
    """The reply: the call, the execution outcome and the arm, with 👍/👎 buttons."""
    call = task.call or "(no call)"
    status = task.status or "not run"
    arm = task.arm or "none"
    text = f"{call} · {status} · arm {arm}"
    summary = f"*Outcome:* `{status}`  ·  *Arm:* `{arm}`  ·  *API:* `{task.api_id or '-'}`"
    blocks: list[JSONObject] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{call[:2900]}```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]},
        {
            "type": "actions",
            "block_id": "toolroute_feedback",
            "elements": [
                _button("👍", FEEDBACK_UP, task.task_id, "primary"),
                _button("👎", FEEDBACK_DOWN, task.task_id, "danger"),
            ],
        },
    ]
    return text, blocks


def _button(label: str, action_id: str, task_id: str, style: str) -> JSONObject:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": task_id,
        "style": style,
    }


def _delivery_key(text: str, content_type: str) -> str | None:
    """The id Slack gives this delivery: `event_id` for events, `trigger_id` for commands
    and interactions (form-encoded, the latter with a JSON `payload`)."""
    try:
        if "application/json" in content_type:
            body = json.loads(text)
            event_id = body.get("event_id") if isinstance(body, dict) else None
            return f"event:{event_id}" if event_id else None
        form = parse_qs(text)
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            trigger = payload.get("trigger_id") if isinstance(payload, dict) else None
            return f"trigger:{trigger}" if trigger else None
        trigger_ids = form.get("trigger_id")
        return f"trigger:{trigger_ids[0]}" if trigger_ids else None
    except (ValueError, TypeError):
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat()
