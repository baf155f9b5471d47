"""The one training loop of the embedder's tuning and the reranker: seeded shuffles of the
items, AdamW, one optimiser step per batch, progress per batch. Deterministic for a seed
on a given machine, which is what makes "train it at the first index build" reproducible."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")


def run_epochs(
    model: Any,
    items: Sequence[Item],
    batch_loss: Callable[[list[Item]], Any | None],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Train `model` in place; the last batch's loss. `batch_loss` may return None for a
    batch it cannot learn from (no optimiser step then)."""
    import torch

    torch.manual_seed(seed)
    order = random.Random(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    total = epochs * -(-len(items) // batch_size)
    done, loss_value = 0, float("nan")
    model.train()
    try:
        for _ in range(epochs):
            shuffled = list(items)
            order.shuffle(shuffled)
            for start in range(0, len(shuffled), batch_size):
                loss = batch_loss(shuffled[start : start + batch_size])
                if loss is not None:
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    loss_value = float(loss.detach())
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        model.eval()
    return loss_value
