from __future__ import annotations

from apidb import IMPORT_FORMATS
from retriever import SEARCH_MODES


def test_cli_choices_match_the_packages() -> None:
    from agent.cli import ImportFormat, Mode

    assert {f.value for f in ImportFormat} == set(IMPORT_FORMATS)
    assert {m.value for m in Mode} == set(SEARCH_MODES)


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
