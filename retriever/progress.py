"""One progress callback over several stages of long work.

A caller shows one bar per piece of work (`agent.cli.common.progress_bar`), but training
the default embedder is three stages (index the catalog with the shipped model, mine hard
negatives, train), each counting its own units. `staged` maps each stage's (done, total)
into one rising count, each stage taking its share of the bar.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]
_RESOLUTION = 1000


def staged(
    progress: ProgressCallback | None, shares: dict[str, float]
) -> dict[str, ProgressCallback | None]:
    """A callback per stage, in the order of `shares` (relative sizes, such as expected
    seconds); None for each when there is no `progress` to report to."""
    if progress is None:
        return dict.fromkeys(shares)
    whole = sum(shares.values()) or 1.0
    callbacks: dict[str, ProgressCallback | None] = {}
    start = 0.0
    for name, share in shares.items():
        callbacks[name] = _stage(progress, start / whole, share / whole)
        start += share
    return callbacks


def _stage(progress: ProgressCallback, offset: float, width: float) -> ProgressCallback:
    def tick(done: int, total: int) -> None:
        fraction = offset + width * (min(done, total) / total if total else 1.0)
        progress(round(fraction * _RESOLUTION), _RESOLUTION)

    return tick
