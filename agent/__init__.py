"""The agent: LLM arms, call parsing and validation, execution, the pipeline, the CLI.

    from agent import Pipeline

`Pipeline` is imported on first use, so `toolroute --help` does not load numpy and friends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.pipeline import Pipeline

__all__ = ["Pipeline"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from agent.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
