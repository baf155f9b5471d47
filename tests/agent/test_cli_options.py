from __future__ import annotations

import os

import pytest

from apidb.names import IMPORT_FORMATS


def test_cli_choices_are_the_packages_own() -> None:
    """The choices are the packages' Literal types, not copies: a value a package adds is
    offered at once, and a wrong one gets the list."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "apis", "import", "x", "--format", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert all(repr(f) in done.stderr for f in IMPORT_FORMATS), done.stderr


def test_torch_threads_sleep_when_idle_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.cli.app import let_idle_torch_threads_sleep

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    let_idle_torch_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    let_idle_torch_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
