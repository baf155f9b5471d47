"""The real `toolroute` command in a subprocess, and a data dir with the full index.

`llama_server` is llama-cpp-python's own OpenAI-compatible server on loopback, serving the
same Gemma GGUF, started once per session for the `openai` arm.

The index is built once per session with `toolroute index build`, the real first build of
a fresh install: it trains the default tuned embedder on APIBench's training data (a few
minutes), then embeds all 1,726 APIs. The default Gemma GGUF is assembled into it once;
tests that change anything work on a copy of that data directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.models import DEFAULT_GGUF_NAME, default_gguf
from tests.conftest import private_copy

TOOLROUTE = [sys.executable, "-m", "agent.cli"]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `toolroute` subprocess on `data_dir`."""
    return {
        **os.environ,
        "TOOLROUTE_DATA_DIR": str(data_dir),
        # The real default, which tests/conftest.py turns off for in-process tests.
        "TOOLROUTE_EMBEDDER_TUNING": "apibench",
        **extra,
    }


def run(
    data_dir: Path, *args: str, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*TOOLROUTE, *args],
        env=cli_env(data_dir, NO_COLOR="1", COLUMNS="200", **(env or {})),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == expect, (result.stdout, result.stderr)
    return result


def write_config(data_dir: Path, openai_url: str, extra: str = "") -> None:
    """A toolroute.toml with the template, llamacpp and `remote` (openai) arms, the last
    on `openai_url`; `extra` adds more TOML."""
    (data_dir / "toolroute.toml").write_text(
        f"""
[arms.template]
type = "template"
[arms.llamacpp]
type = "llamacpp"
[arms.remote]
type = "openai"
model = "gemma"
mode = "completions"
grammar = true
timeout_s = 60
endpoints = [{{ url = "{openai_url}" }}]
price = {{ input_per_1k = 0.0001, output_per_1k = 0.0002 }}
{extra}"""
    )


def run_json(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(run(data_dir, *args, "--json", env=env).stdout)


@pytest.fixture(scope="session")
def index_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The session's `toolroute index build --json` in a pipe: its data dir and stderr."""
    data_dir = tmp_path_factory.mktemp("cli-data")
    build = run(data_dir, "index", "build", "--json")
    assert json.loads(build.stdout)["docs"] == 1726
    default_gguf(data_dir)
    return data_dir, build.stderr


@pytest.fixture(scope="session")
def built_data_dir(index_build: tuple[Path, str]) -> Path:
    return index_build[0]


@pytest.fixture
def data_dir(built_data_dir: Path, tmp_path: Path) -> Path:
    return private_copy(built_data_dir, tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(built_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(built_data_dir / "models" / DEFAULT_GGUF_NAME),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "llama.cpp server did not start"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
