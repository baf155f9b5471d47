"""The plumbing of one sandboxed run: its pipes, bwrap's info pipe, and draining the
run's output until it ends or its deadline passes (never blocking on a full pipe)."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Literal

from agent.jsontypes import JSONObject
from agent.sandbox import protocol

# The judge's report holds the code's events (at most protocol.MAX_EVENTS_BYTES), escaped.
RESULT_FD_CAP = 8 * protocol.MAX_EVENTS_BYTES
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Per-run ceilings. `memory_bytes` is the cgroup limit; `address_space_bytes` the
    rlimit that stands in for it where cgroups are not writable."""

    timeout_s: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 512 * _MIB
    address_space_bytes: int = 1024 * _MIB
    file_size_bytes: int = 8 * _MIB
    tmp_bytes: int = 16 * _MIB
    open_files: int = 64
    processes: int = 16
    cpu_cores: float = 1.0
    output_bytes: int = 64 * 1024

    def rlimits(self) -> dict[str, int]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "address_space_bytes": self.address_space_bytes,
            "file_size_bytes": self.file_size_bytes,
            "open_files": self.open_files,
            "processes": self.processes,
        }


@dataclass(slots=True)
class RawRun:
    """What the runner reported (only lines that carry the run's secret count), and how
    its process ended. `report` is None when the judge never sent its result."""

    started: bool = False
    report: protocol.Report | None = None
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    returncode: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    duration_s: float = 0.0
    isolation: JSONObject = field(default_factory=dict)


class Pipes:
    """Pipes for one run. Each fd is closed exactly once: a second close could hit a
    number another thread's run has since been given."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._open: set[int] = set()
        self._child_ends: list[int] = []
        stack.callback(self.close_all)

    def new(self, child_end: Literal["r", "w"] = "w") -> tuple[int, int]:
        read, write = os.pipe()
        self._open.update((read, write))
        child = write if child_end == "w" else read
        os.set_inheritable(child, True)
        self._child_ends.append(child)
        return read, write

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    def close_child_ends(self) -> None:
        for fd in self._child_ends:
            self.close(fd)

    def close_all(self) -> None:
        for fd in list(self._open):
            self.close(fd)


def read_info(fd: int, deadline: float) -> JSONObject:
    """bwrap's `--info-fd` JSON (it holds the namespace's pid 1 as `child-pid`)."""
    buffer = b""
    os.set_blocking(fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            selector.select(timeout=max(0.0, deadline - time.monotonic()))
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buffer += chunk
            try:
                value = json.loads(buffer)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError(f"bwrap reported no child pid: {buffer[:200]!r}")


def collect(
    process: subprocess.Popen[bytes],
    payload: bytes,
    result_r: int,
    started: float,
    limits: SandboxLimits,
    secret: bytes,
) -> RawRun:
    """Send the runner, the job and the secret, then read stdout, stderr and the result
    pipe until the run ends or the deadline passes. Output beyond the cap is read and
    dropped so the code never blocks."""
    assert process.stdin and process.stdout and process.stderr
    raw = RawRun()
    deadline = started + limits.timeout_s
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(payload)
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    fds = {"stdout": process.stdout.fileno(), "stderr": process.stderr.fileno(), "result": result_r}
    buffers = _drain(fds, raw, deadline, limits.output_bytes)
    if not raw.timed_out:
        try:
            raw.returncode = process.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raw.timed_out = True
    raw.duration_s = time.monotonic() - started
    raw.stdout = buffers["stdout"].decode(errors="replace")
    raw.stderr = buffers["stderr"].decode(errors="replace")
    for line in bytes(buffers["result"]).split(b"\n"):
        message = protocol.authenticated(line, secret)
        if message is None:
            continue  # not the judge's: nothing else has the secret
        if message == b'{"event": "started"}':
            raw.started = True
        elif raw.report is None:
            raw.report = protocol.parse_report(message)
    return raw


def _drain(
    fds: dict[str, int], raw: RawRun, deadline: float, output_bytes: int
) -> dict[str, bytearray]:
    """Read every pipe to its end (or the deadline), keeping at most the cap of each."""
    buffers = {name: bytearray() for name in fds}
    caps = {"stdout": output_bytes, "stderr": output_bytes, "result": RESULT_FD_CAP}
    with selectors.DefaultSelector() as selector:
        for name, fd in fds.items():
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, name)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raw.timed_out = True
                break
            for key, _ in selector.select(timeout=remaining):
                name = key.data
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                room = caps[name] - len(buffers[name])
                if len(chunk) > room:
                    raw.output_truncated = True
                buffers[name] += chunk[: max(room, 0)]
    return buffers


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap's process group; the namespace's processes die with its pid 1."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
