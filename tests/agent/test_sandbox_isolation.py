"""The OS-level layers on their own: the runner's Python guards are switched off
(`python_guards: False`), so these attacks reach the kernel. Every test asserts what the
code saw inside, and that the host is unaffected."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.errors import SandboxUnavailableError
from agent.sandbox import binaries
from agent.sandbox.isolation import Sandbox, compiled_runner
from agent.sandbox.process import RawRun, SandboxLimits
from agent.sandbox.protocol import make_job

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    box = Sandbox("bwrap", SandboxLimits(timeout_s=5, cpu_seconds=4, processes=16))
    box.check()
    return box


def bare(sandbox: Sandbox, code: str, **limits: Any) -> RawRun:
    run_limits = dataclasses.replace(sandbox.limits, **limits) if limits else None
    return sandbox.run({**make_job(code), "python_guards": False}, run_limits)


def outcome(run: RawRun) -> str | None:
    return run.report.outcome if run.report is not None else None


def observed(run: RawRun) -> dict[str, Any]:
    """The JSON object the code printed last."""
    assert run.report is not None, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, run.stdout + run.stderr
    return json.loads(lines[-1])


def attempt(expression: str) -> str:
    """Code that evaluates `expression` and reports the value or the exception's name."""
    return (
        "def _try():\n"
        f"    try:\n        return repr({expression})[:200]\n"
        "    except BaseException as exc:\n        return type(exc).__name__ + ': ' + str(exc)[:100]\n"
    )


def test_runs_as_nobody_without_capabilities_or_host_environment(sandbox: Sandbox) -> None:
    os.environ["TOOLROUTE_TEST_SECRET"] = "hunter2"
    try:
        run = bare(
            sandbox,
            "import os, json\n"
            "status = open('/proc/self/status').read()\n"
            "caps = [l for l in status.splitlines() if l.startswith('CapEff')][0]\n"
            "print(json.dumps({'uid': os.getuid(), 'caps': caps.split()[1], 'env': dict(os.environ),"
            " 'pid1_env': open('/proc/1/environ').read(), 'hostname': os.uname().nodename,"
            " 'seccomp': [l for l in status.splitlines() if l.startswith('Seccomp:')][0]}))",
        )
    finally:
        del os.environ["TOOLROUTE_TEST_SECRET"]
    seen = observed(run)
    assert seen["uid"] == 65534
    assert int(seen["caps"], 16) == 0
    assert "hunter2" not in json.dumps(seen)
    assert "TOOLROUTE_TEST_SECRET" not in seen["pid1_env"] and "PATH=" not in seen["pid1_env"]
    assert seen["hostname"] == "sandbox"
    assert seen["seccomp"].split()[-1] == "2"  # filter mode


def test_host_files_are_out_of_reach(sandbox: Sandbox, tmp_path: Path) -> None:
    code = (
        attempt("open('/etc/shadow').read()")
        + "import json, sys\nout = {'shadow': _try()}\n"
        + attempt(f"open({str(PROJECT / 'pyproject.toml')!r}).read()")
        + "out['project'] = _try()\n"
        + attempt("open('/root/.bashrc').read()")
        + "out['root'] = _try()\n"
        + attempt(f"open({sys_site()!r} + '/evil.py', 'w').write('x')")
        + "out['site'] = _try()\n"
        + attempt("open('/usr/evil', 'w')")
        + "out['usr'] = _try()\n"
        + "print(json.dumps(out))"
    )
    seen = observed(bare(sandbox, code))
    for key in ("shadow", "project", "root"):
        assert seen[key].startswith(("FileNotFoundError", "PermissionError")), seen
    assert seen["site"].startswith(("OSError", "FileNotFoundError", "PermissionError")), seen
    assert seen["usr"].startswith(("OSError", "PermissionError")), seen
    assert not Path(sys_site(), "evil.py").exists()


def sys_site() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


@pytest.fixture()
def loopback_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's loopback that records anything that reaches it."""
    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            received.append(conn.recv(100) or b"(connected)")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def test_no_network_of_any_kind(sandbox: Sandbox, loopback_server: tuple[int, list[bytes]]) -> None:
    port, received = loopback_server
    code = (
        "import socket, json\nout = {}\n"
        + attempt(f"socket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'hi')")
        + "out['tcp'] = _try()\n"
        + attempt("socket.socket(socket.AF_INET6, socket.SOCK_STREAM)")
        + "out['tcp6'] = _try()\n"
        + attempt("socket.socket(socket.AF_INET, socket.SOCK_DGRAM)")
        + "out['udp'] = _try()\n"
        + attempt("socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)")
        + "out['netlink'] = _try()\n"
        + attempt("socket.socket(socket.AF_PACKET, socket.SOCK_RAW)")
        + "out['packet'] = _try()\n"
        + attempt("socket.getaddrinfo('pypi.org', 443)")
        + "out['dns'] = _try()\n"
        + attempt("socket.socket(socket.AF_UNIX).connect('/run/docker.sock')")
        + "out['unix'] = _try()\n"
        + "print(json.dumps(out))"
    )
    seen = observed(bare(sandbox, code))
    for key in ("tcp", "tcp6", "udp", "netlink", "packet"):
        assert "Error" in seen[key] and "Address family not supported" in seen[key], seen
    assert seen["dns"].startswith("gaierror"), seen
    assert "Error" in seen["unix"], seen
    time.sleep(0.3)
    assert received == []


def test_kernel_attack_surface_is_filtered(sandbox: Sandbox) -> None:
    code = (
        "import ctypes, json, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(name, *args):\n"
        "    result = getattr(libc, name)(*args)\n"
        "    return os.strerror(ctypes.get_errno()) if result == -1 else 'succeeded'\n"
        "print(json.dumps({\n"
        "  'ptrace': call('ptrace', 16, 1, 0, 0),\n"  # PTRACE_ATTACH to pid 1
        "  'unshare': call('unshare', 0x10000000),\n"  # CLONE_NEWUSER
        "  'mount': call('mount', b'none', b'/tmp', b'tmpfs', 0, None),\n"
        "  'keyctl': call('syscall', 250, 0, 0, 0, 0),\n"
        "  'bpf': call('syscall', 321, 0, 0, 0),\n"
        "  'userfaultfd': call('syscall', 323, 0),\n"
        "  'io_uring_setup': call('syscall', 425, 1, 0),\n"
        "  'perf_event_open': call('syscall', 298, 0, 0, -1, -1, 0),\n"
        "}))"
    )
    seen = observed(bare(sandbox, code))
    assert all(value == "Operation not permitted" for value in seen.values()), seen


def test_fork_bomb_is_bounded_and_leaves_nothing(sandbox: Sandbox) -> None:
    marker = f"toolroute-bomb-{uuid.uuid4().hex[:8]}"
    code = (
        "import os, json, time\nforks = 0\nfailed = None\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as exc:\n"
        "        failed = str(exc); break\n"
        "    if pid == 0:\n"
        f"        os.execv('/usr/bin/sleep', ['sleep', '60', {marker!r}])\n"
        "    forks += 1\n"
        "print(json.dumps({'forks': forks, 'failed': failed}))"
    )
    run = bare(sandbox, code)
    seen = observed(run)
    assert seen["forks"] < 40 and seen["failed"], seen
    assert not _host_processes(marker)


def test_double_forked_daemons_do_not_survive(sandbox: Sandbox) -> None:
    marker = f"toolroute-daemon-{uuid.uuid4().hex[:8]}"
    code = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/usr/bin/sleep', ['sleep', '120', {marker!r}])\n"
        "    os._exit(0)\n"
        "print('{}')\n"
    )
    bare(sandbox, code)
    time.sleep(0.2)
    assert not _host_processes(marker)


def _host_processes(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if marker in line]


def test_memory_bomb_is_stopped(sandbox: Sandbox) -> None:
    run = bare(
        sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n"
    )
    assert run.oom_killed or outcome(run) == "memory"


def test_cpu_loop_and_sleep_forever_hit_the_deadline(sandbox: Sandbox) -> None:
    started = time.monotonic()
    run = bare(sandbox, "import time\ntime.sleep(3600)", timeout_s=1.0)
    assert run.timed_out and time.monotonic() - started < 5
    run = bare(sandbox, "while True:\n    pass", timeout_s=1.0)
    assert run.timed_out


def test_huge_output_is_capped(sandbox: Sandbox) -> None:
    run = bare(sandbox, "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 10000)\n")
    assert run.output_truncated
    assert len(run.stdout) <= sandbox.limits.output_bytes
    assert outcome(run) == "completed"


def test_filling_tmp_stops_at_its_size(sandbox: Sandbox) -> None:
    code = (
        "import json\nwritten = 0\nerror = None\n"
        "try:\n"
        "    with open('/tmp/fill', 'wb') as f:\n"
        "        for _ in range(100):\n"
        "            f.write(b'x' * 1024 * 1024); f.flush(); written += 1\n"
        "except OSError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps({'written_mib': written, 'error': error}))"
    )
    seen = observed(bare(sandbox, code))
    assert seen["error"] and seen["written_mib"] <= 16, seen


def test_dev_is_read_only_small_and_without_shm(sandbox: Sandbox) -> None:
    """bwrap's own `--dev` is a tmpfs without a size limit (1.2 GB was written to it where
    no cgroup capped memory); the sandbox's /dev holds four devices and takes no files."""
    code = (
        "import json, os\nout = {'devices': sorted(os.listdir('/dev'))}\n"
        + attempt("open('/dev/fill', 'wb').write(b'x' * (64 << 20))")
        + "out['fill'] = _try()\n"
        + attempt("os.listdir('/dev/shm')")
        + "out['shm'] = _try()\n"
        + attempt("open('/dev/urandom', 'rb').read(4) and open('/dev/null', 'w').write('x')")
        + "out['devices_work'] = _try()\n"
        + "print(json.dumps(out))"
    )
    seen = observed(bare(sandbox, code))
    assert seen["devices"] == ["fd", "null", "random", "urandom", "zero"], seen
    assert seen["fill"].startswith(("PermissionError", "OSError")), seen
    assert seen["shm"].startswith("FileNotFoundError"), seen
    assert seen["devices_work"] == "1", seen


def test_printed_success_or_an_early_exit_is_not_a_result(sandbox: Sandbox) -> None:
    fake = json.dumps({"event": "result", "outcome": "completed", "records": []})
    run = bare(sandbox, f"print({fake!r})\nimport os\nos._exit(0)")
    assert run.started and outcome(run) == "exited"


def test_sandbox_keeps_serving_after_the_attacks(sandbox: Sandbox) -> None:
    run = sandbox.run(make_job("x = 1"))
    assert outcome(run) == "completed"


# --- the host-runner protocol (the runner's own guards on) ------------------------------


def test_result_values_reach_the_host_as_json_would_spell_them(sandbox: Sandbox) -> None:
    """The runner writes its result without the `json` package: every kind of value a
    record or an error can hold must arrive as `json.dumps(..., default=repr)` sends it."""
    code = (
        "import transformers\n"
        "transformers.AutoModel.from_pretrained('x', opts={1: float('nan'), 'k': (float('inf'),"
        " -float('inf'), 10**5000, 'é\\n\"\\u2028\\x00', None, True, 2.5, -7)})\n"
        "raise ValueError('é \"q\" \\u2028 \\x00')"
    )
    run = sandbox.run(make_job(code, simulated_roots=["transformers"]))
    assert run.report is not None, run.stderr
    assert run.report.error == 'ValueError: é "q" \u2028 \x00'
    (record,) = run.report.records
    opts = record.kwargs["opts"]
    assert isinstance(opts, dict)
    assert list(opts) == ["1", "k"] and math.isnan(opts["1"])
    assert opts["k"][:2] == [math.inf, -math.inf]
    assert opts["k"][2] == "<int of 16610 bits>"  # too many digits for int-to-str
    assert opts["k"][3:] == ['é\n"\u2028\x00', None, True, 2.5, -7]


def test_an_interpreter_that_cannot_compile_the_runner_is_a_clear_error() -> None:
    with pytest.raises(SandboxUnavailableError, match="could not compile the runner"):
        compiled_runner("/bin/false")
    with pytest.raises(SandboxUnavailableError, match="could not compile the runner"):
        compiled_runner("/nonexistent/python3")


# --- an install the sandbox uid cannot reach (a checkout under a 0700 /root) -------------


def test_reachable_by_others_checks_every_directory_above_and_the_run_bit() -> None:
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        top.chmod(0o755)
        (top / "open").mkdir(mode=0o755)
        script = top / "open" / "tool"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o644)
        assert binaries.reachable_by_others(script)
        assert not binaries.reachable_by_others(script, run=True)
        script.chmod(0o755)
        assert binaries.reachable_by_others(script, run=True)
        (top / "open").chmod(0o700)
        assert not binaries.reachable_by_others(script, run=True)
        assert not binaries.reachable_by_others(top / "missing")
    finally:
        (top / "open").chmod(0o755)
        shutil.rmtree(top)


as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the sandbox switches to another uid only when started as root"
)


@as_root
def test_a_bwrap_out_of_the_sandbox_uids_reach_runs_from_a_reachable_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = binaries.installed_bwrap()
    root = installed.parent.parent.parent
    private = tmp_path / "private"
    for source in [installed, *binaries.bundled_libraries(installed)]:
        target = private / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    private.chmod(0o700)
    hidden = private / installed.relative_to(root)
    assert not binaries.reachable_by_others(hidden)
    monkeypatch.setattr(binaries, "installed_bwrap", lambda: hidden)

    box = Sandbox("bwrap", SandboxLimits(timeout_s=5))
    box.check()  # the probe is a real run
    copy = Path(box._bwrap())
    assert copy != hidden and binaries.reachable_by_others(copy)
    assert copy.stat().st_uid == 0 and not copy.stat().st_mode & 0o022  # nobody can swap it
    run = box.run(make_job("print(6 * 7)"))
    assert outcome(run) == "completed", run.stderr
    assert run.stdout.strip() == "42"


@as_root
def test_the_copy_of_bwrap_is_shared_and_used_only_while_nobody_else_can_have_changed_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared_tmp = Path(tempfile.mkdtemp(dir="/tmp"))  # world-traversable, unlike tmp_path
    try:
        shared_tmp.chmod(0o755)
        monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
        copy_of = binaries.copy_reachable_by_others.__wrapped__
        installed = binaries.installed_bwrap()

        first = copy_of(installed)
        assert first.is_relative_to(shared_tmp) and copy_of(installed) == first
        assert binaries.reachable_by_others(first)
        (shared_copy,) = shared_tmp.iterdir()
        assert shared_copy.name.startswith(f"toolroute-bwrap-{os.geteuid()}-")

        first.chmod(0o777)  # someone else could have replaced it: never run it
        private = copy_of(installed)
        assert private != first and not private.is_relative_to(shared_copy)
        assert subprocess.run([private, "--version"], capture_output=True).returncode == 0
    finally:
        shutil.rmtree(shared_tmp)


@as_root
def test_live_mode_skips_library_paths_the_sandbox_uid_cannot_reach(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = tmp_path / "private"
    (private / "lib").mkdir(parents=True)
    (private / "lib" / "hidden_module.py").write_text("VALUE = 1\n")
    private.chmod(0o700)
    code = attempt("__import__('hidden_module').VALUE") + "print(_try())"
    with caplog.at_level(logging.WARNING):
        run = sandbox.run(
            {**make_job(code, sys_path=[str(private / "lib")]), "python_guards": False}
        )
    assert outcome(run) == "completed", run.stderr
    assert "ModuleNotFoundError" in run.stdout
    assert f"live mode cannot bind {private / 'lib'}" in caplog.text
