"""How a call runs in the sandbox: `simulated` (recording stand-ins for the catalog's
libraries) or `live` (real allow-listed callables). Here alone, so the CLI can offer the
choice without importing the executor."""

from __future__ import annotations

from typing import Literal, get_args

RunMode = Literal["simulated", "live"]
RUN_MODES: tuple[RunMode, ...] = get_args(RunMode)
