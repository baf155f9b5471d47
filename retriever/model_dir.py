"""Model directories that appear whole or not at all: written into a scratch directory
beside the destination, then renamed into place. A reader never sees half a model, and a
failed or killed training leaves only a dot-named scratch directory behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from retriever.errors import TuningError


def check_output_free(out_dir: Path, replace: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise TuningError(f"the output path {out_dir} exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()) and not replace:
        raise TuningError(f"{out_dir} already exists; pass --force to replace it")


@contextmanager
def written_atomically(out_dir: Path, *, replace: bool) -> Iterator[Path]:
    """A scratch directory to write the model into; on leaving the block without an
    error it becomes `out_dir` (replacing an existing one only if `replace`)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield scratch
        _move_into_place(scratch, out_dir, replace)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _move_into_place(scratch: Path, out_dir: Path, replace: bool) -> None:
    if not out_dir.exists():
        os.replace(scratch, out_dir)
        return
    # Callers check before training too; this catches a directory that appeared meanwhile.
    check_output_free(out_dir, replace)
    # A directory cannot be renamed over a non-empty one: move the old one aside first.
    retired = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    os.replace(out_dir, retired)
    os.replace(scratch, out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def trained_once(
    target: Path,
    marker: str,
    train: Callable[[], object],
    *,
    is_current: Callable[[Path], bool] | None = None,
) -> Path:
    """`target`, made by `train()` unless `target/marker` (written last by a finished
    training) is there already and, given `is_current`, says it was made the current way
    (a model of an older recipe is retrained once). A file lock makes concurrent processes
    (service replicas, a CLI beside the service) train it once: the others wait, then use
    what it wrote."""
    import fcntl

    def usable() -> bool:
        done = target / marker
        return done.is_file() and (is_current is None or is_current(done))

    if usable():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not usable():  # nobody trained it meanwhile
            train()
    return target
