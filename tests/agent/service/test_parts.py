"""The service's parts on their own: keys, rate limits, admission, Slack delivery ids."""

from __future__ import annotations

import json
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from agent.errors import DatabaseUnavailableError
from agent.service.auth import KEYS_FILE, ApiKey, Keyring, digest, key_id, new_key
from agent.service.keystore import DatabaseKeyStore, FileKeyStore
from agent.service.limits import Admission, DrainingError, QueueFullError, RateLimiter
from agent.service.slack import _delivery_key, render_task
from agent.task import TaskResult


def test_configured_keys_are_held_only_as_digests() -> None:
    ring, created = Keyring.load(["alpha", "beta"], FileKeyStore(Path("/nonexistent")))
    assert created is None and len(ring) == 2
    assert ring.check("alpha") == ring.check("alpha") != ring.check("beta")
    assert ring.check("alphA") is None and ring.check("") is None
    assert "alpha" not in repr(vars(ring))


def test_a_key_is_created_once_and_stored_hashed(tmp_path: Path) -> None:
    ring, key = Keyring.load([], FileKeyStore(tmp_path))
    assert key is not None and key.startswith("tr_") and len(key) > 40
    stored = (tmp_path / KEYS_FILE).read_text()
    assert key not in stored and json.loads(stored) == {"sha256": [digest(key)]}
    assert stat.S_IMODE((tmp_path / KEYS_FILE).stat().st_mode) == 0o600
    again, created = Keyring.load([], FileKeyStore(tmp_path))
    assert created is None and again.check(key) is not None


def test_keys_created_or_revoked_elsewhere_take_effect_without_a_restart(
    tmp_path: Path,
) -> None:
    store = FileKeyStore(tmp_path)
    ring, first = Keyring.load([], store)
    ring._refresh_s = 0  # re-read on every check (a second in the service)
    assert first is not None and ring.check(first) is not None
    second = new_key()
    store.add(digest(second), "admin")  # `toolroute keys create --admin`, another process
    assert ring.check(second) == ApiKey(key_id(digest(second)), admin=True)
    assert store.remove(key_id(digest(first)))  # `toolroute keys revoke`
    assert ring.check(first) is None
    assert not store.remove("nosuchkeyid0")


def test_replicas_share_keys_in_the_database_and_create_one_first_key(
    postgres_url: str,
) -> None:
    stores = [DatabaseKeyStore(postgres_url) for _ in range(3)]
    created: list[str | None] = []
    threads = [
        threading.Thread(target=lambda s=s: created.append(Keyring.load([], s)[1])) for s in stores
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [key for key in created if key is not None]
    assert len(keys) == 1  # one replica created it; the others found it
    ring = Keyring([], store=stores[2], refresh_s=0)
    assert ring.check(keys[0]) is not None
    assert stores[0].remove(key_id(digest(keys[0])))
    assert ring.check(keys[0]) is None
    assert not stores[1].remove("%%%%%%%%%%%%")  # LIKE wildcards match nothing
    for store in stores:
        store.close()


def test_a_key_database_that_is_down_keeps_the_last_keys_read() -> None:
    class Flaky(FileKeyStore):
        down = False

        def read(self) -> dict[str, list[str]]:
            if self.down:
                raise DatabaseUnavailableError("the database is restarting")
            return super().read()

    store = Flaky(Path(tempfile.mkdtemp()))
    ring, key = Keyring.load([], store)
    ring._refresh_s = 0
    store.down = True
    assert key is not None and ring.check(key) is not None


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("k")
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("other") is None  # per caller
    now[0] += 0.5
    assert limiter.acquire("k") is None
    assert RateLimiter(rate=0, burst=1).acquire("k") is None  # 0 turns it off


def test_admission_refuses_beyond_workers_plus_queue_and_drains() -> None:
    admission = Admission(workers=1, queue_limit=1)
    admission.enter()
    admission.enter()
    with pytest.raises(QueueFullError) as refused:
        admission.enter()
    assert refused.value.retry_after_s >= 1
    assert admission.waiting == 1
    threading.Timer(0.2, admission.leave, args=(0.2,)).start()
    threading.Timer(0.3, admission.leave, args=(0.2,)).start()
    started = time.monotonic()
    assert admission.drain(10) is True
    assert time.monotonic() - started >= 0.25
    with pytest.raises(DrainingError):
        admission.enter()


def test_drain_reports_tasks_still_running() -> None:
    admission = Admission(workers=1, queue_limit=0)
    admission.enter()
    assert admission.drain(0.1) is False


def test_slack_delivery_ids() -> None:
    assert _delivery_key('{"event_id": "Ev1"}', "application/json") == "event:Ev1"
    assert (
        _delivery_key("command=%2Ftoolroute&trigger_id=T.1", "application/x-www-form-urlencoded")
        == "trigger:T.1"
    )
    payload = "payload=" + json.dumps({"trigger_id": "T.2"})
    assert _delivery_key(payload, "application/x-www-form-urlencoded") == "trigger:T.2"
    assert _delivery_key("{not json", "application/json") is None


def test_the_slack_reply_has_the_call_outcome_arm_and_buttons() -> None:
    text, blocks = render_task(
        TaskResult.model_validate(
            {
                "task_id": "t1",
                "created_at": "2026-12-02T00:00:00+00:00",
                "query": "q",
                "call": "f(x=1)",
                "arm": "template",
                "api_id": "a/b",
                "execution": {"status": "ok"},
            }
        )
    )
    assert text == "f(x=1) · ok · arm template"
    buttons = blocks[-1]["elements"]
    assert [b["value"] for b in buttons] == ["t1", "t1"]
