"""The real `toolroute` command in a subprocess, and a data dir with the full index.

The index is built once per session with `toolroute index build` (the real build of all
1,726 APIs) and the default Gemma GGUF is assembled into it once; tests that change
anything work on a copy of that data directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.models import default_gguf
from tests.conftest import private_copy

TOOLROUTE = [sys.executable, "-m", "agent.cli"]


def run(
    data_dir: Path, *args: str, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TOOLROUTE_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **(env or {}),
    }
    result = subprocess.run(
        [*TOOLROUTE, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == expect, (result.stdout, result.stderr)
    return result


def run_json(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(run(data_dir, *args, "--json", env=env).stdout)


@pytest.fixture(scope="session")
def built_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-data")
    build = run_json(data_dir, "index", "build")
    assert build["docs"] == 1726
    default_gguf(data_dir)
    return data_dir


@pytest.fixture
def data_dir(built_data_dir: Path, tmp_path: Path) -> Path:
    return private_copy(built_data_dir, tmp_path)
