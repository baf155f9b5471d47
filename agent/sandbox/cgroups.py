"""Per-run control groups: a pids, memory and CPU ceiling for everything a run starts.

Works with cgroup v2 (one unified tree) and v1 (one tree per controller), under the
cgroup this process already lives in, so a service inside a container or a systemd slice
stays within its own limits. When the hierarchy is not writable (an unprivileged service,
a read-only /sys/fs/cgroup) `CgroupManager.detect()` returns None and the sandbox relies
on its rlimits alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
_ROOT = Path("/sys/fs/cgroup")
_PREFIX = "toolroute-"


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    pids: int
    memory_bytes: int
    cpu_cores: float


class RunCgroup:
    """One run's cgroup (a directory per v1 controller, or one v2 directory)."""

    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs

    def add(self, pid: int) -> None:
        for directory in self.dirs.values():
            (directory / "cgroup.procs").write_text(str(pid))

    def oom_killed(self) -> bool:
        if self.version == 2:
            events = _read_keyed(self.dirs["unified"] / "memory.events")
            return events.get("oom_kill", 0) > 0
        control = _read_keyed(self.dirs["memory"] / "memory.oom_control")
        return control.get("oom_kill", 0) > 0

    def close(self) -> None:
        """Kill whatever is left and remove the directories."""
        for directory in self.dirs.values():
            kill = directory / "cgroup.kill"
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
        # Killed processes leave the group only once reaped: poll for up to ~2 s.
        for attempt in range(200):
            alive = [pid for d in self.dirs.values() for pid in _pids(d)]
            if not alive:
                break
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001 if attempt < 10 else 0.01)
        for directory in self.dirs.values():
            for attempt in range(100):
                try:
                    directory.rmdir()
                    break
                except OSError as exc:  # EBUSY while the kernel finishes tearing down
                    if attempt == 99:
                        log.warning("could not remove cgroup %s: %s", directory, exc)
                    time.sleep(0.01)


class CgroupManager:
    def __init__(self, version: int, parents: dict[str, Path]) -> None:
        self.version = version
        self.parents = parents

    @classmethod
    def detect(cls) -> CgroupManager | None:
        """The writable hierarchy this process can create child groups in, if any."""
        own = _own_cgroups()
        unified = _ROOT / "cgroup.controllers"
        if unified.exists():  # pure v2
            parent = _ROOT / own.get("", "/").lstrip("/")
            controllers = (parent / "cgroup.controllers").read_text().split()
            if {"pids", "memory"} <= set(controllers) and _writable(parent):
                return cls(2, {"unified": parent})
            return None
        parents: dict[str, Path] = {}
        for controller in ("pids", "memory", "cpu"):
            base = _ROOT / controller
            if not base.is_dir():
                continue
            parent = base / own.get(controller, "/").lstrip("/")
            if _writable(parent):
                parents[controller] = parent
        if {"pids", "memory"} <= parents.keys():
            return cls(1, parents)
        return None

    def create(self, limits: CgroupLimits) -> RunCgroup:
        name = f"{_PREFIX}{uuid.uuid4().hex[:12]}"
        dirs: dict[str, Path] = {}
        run = RunCgroup(self.version, dirs)
        try:
            for controller, parent in self.parents.items():
                directory = parent / name
                directory.mkdir()
                dirs[controller] = directory
            if self.version == 2:
                directory = dirs["unified"]
                (directory / "pids.max").write_text(str(limits.pids))
                (directory / "memory.max").write_text(str(limits.memory_bytes))
                with contextlib.suppress(OSError):
                    (directory / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):
                    period = 100_000
                    (directory / "cpu.max").write_text(f"{int(limits.cpu_cores * period)} {period}")
            else:
                (dirs["pids"] / "pids.max").write_text(str(limits.pids))
                memory = dirs["memory"]
                (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                with contextlib.suppress(OSError):  # needs swap accounting
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
                if "cpu" in dirs:
                    period = 100_000
                    (dirs["cpu"] / "cpu.cfs_period_us").write_text(str(period))
                    (dirs["cpu"] / "cpu.cfs_quota_us").write_text(
                        str(int(limits.cpu_cores * period))
                    )
        except OSError:
            run.close()
            raise
        return run


def _own_cgroups() -> dict[str, str]:
    """controller -> path of this process's cgroup ('' is the v2 tree)."""
    result: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            result[controller.removeprefix("name=")] = path
    return result


def _writable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK)


def _pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _read_keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
    return values
