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
  rlimits and arms the audit hook (see `agent.sandbox.inside`);
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

import contextlib
import functools
import logging
import marshal
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from agent.errors import SandboxUnavailableError
from agent.jsontypes import JSONObject
from agent.sandbox import binaries, protocol
from agent.sandbox.cgroups import CgroupLimits, CgroupManager, RunCgroup
from agent.sandbox.inside import RUNNER_PARTS
from agent.sandbox.process import Pipes, RawRun, SandboxLimits, collect, kill_group, read_info
from agent.sandbox.seccomp import seccomp_program

_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
log = logging.getLogger(__name__)

SandboxMode = Literal["bwrap", "unsafe-dev"]
SANDBOX_UID = 65534  # nobody
# One code object for the runner: its parts in order (the protocol module first: it holds
# `from __future__`), each using the names of those before it.
_RUNNER_SOURCE = b"\n".join(part.read_bytes() for part in RUNNER_PARTS)
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

    def describe(self) -> JSONObject:
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
        installed = binaries.installed_bwrap()
        if not self._drop_privileges or binaries.reachable_by_others(installed, run=True):
            return str(installed)
        return str(binaries.copy_reachable_by_others(installed))

    @functools.cache  # noqa: B019
    def _python(self) -> Path:
        """An interpreter of this Python version that the sandbox uid can read: ours if
        its whole path is world-readable, else the system's."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates = [Path(sys.executable).resolve()]
        candidates += [Path(p) / version for p in ("/usr/local/bin", "/usr/bin")]
        for candidate in candidates:
            if candidate.is_file() and (
                not self._drop_privileges or binaries.reachable_by_others(candidate, run=True)
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
            pipes = Pipes(stack)
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
                raw = collect(process, payload, result_r, started, limits, secret)
                if cgroup is not None:
                    raw.oom_killed = cgroup.oom_killed()
            finally:
                with self._live_lock:
                    self._live.discard(process)
                kill_group(process)
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

    def _user_args(self) -> dict[str, Any]:  # keyword arguments for subprocess.Popen
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
        reachable = [path for path in paths if binaries.reachable_by_others(Path(path))]
        for path in sorted(set(paths) - set(reachable)):
            binaries.warn_once(
                f"live mode cannot bind {path}: uid {self.uid} cannot reach it "
                "(a parent directory lacks o+x), so live callables installed there fail "
                "to import; install toolroute under a world-traversable directory"
            )
        return reachable

    def _command(
        self,
        job: JSONObject,
        limits: SandboxLimits,
        result_w: int,
        pipes: Pipes,
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
            info = read_info(info_r, deadline=time.monotonic() + limits.timeout_s)
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


def site_packages() -> list[str]:
    """Where this install's libraries are: bound read-only for live runs."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(p for p in paths if Path(p).is_dir())
