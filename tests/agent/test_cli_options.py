from __future__ import annotations

import os

import pytest

from apidb import IMPORT_FORMATS
from apidb.bundled import APIBENCH_HUBS
from retriever import SEARCH_MODES
from retriever.benchmark import SPLITS


def test_cli_choices_match_the_packages() -> None:
    from agent.cli import BenchHub, BenchSplit, ImportFormat, Mode

    assert {f.value for f in ImportFormat} == set(IMPORT_FORMATS)
    assert {m.value for m in Mode} == set(SEARCH_MODES)
    assert {s.value for s in BenchSplit} == set(SPLITS)
    assert {h.value for h in BenchHub} == {"all", *APIBENCH_HUBS}


def test_help_does_not_import_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, agent.cli; "
        "heavy = [m for m in ('torch', 'faiss', 'sentence_transformers') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_torch_threads_sleep_when_idle_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.cli import _let_idle_torch_threads_sleep

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _let_idle_torch_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    _let_idle_torch_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
