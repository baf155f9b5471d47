"""The report's PNG plots (matplotlib, drawn off-screen).

- `accuracy_cost.png`: AST and strict accuracy and cost per arm, per hub;
- `frontier.png`: cost against accuracy for each fixed arm and the router's operating
  points under several reward weights (from the offline study);
- `learning.png`: cumulative reward, regret against the best fixed arm and arm share over
  the question order, for each policy on the same order;
- `learning_rate.png`: cumulative reward against the learning rate of `sla` (beta) and
  `qlearning` (alpha), PickLLM's experiment.

The last three need every arm's answer to every question (the default with several arms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.evaluation.records import Document

_DPI = 110


def draw_plots(out: Path, metrics: Document) -> list[str]:
    """Draw what the metrics allow; returns the file names written (relative to `out`)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    drawn = [_accuracy_cost(out, metrics)]
    study = metrics.get("study")
    if study:
        drawn += [_frontier(out, study), _learning(out, study), _learning_rate(out, study)]
    return drawn


def _accuracy_cost(out: Path, metrics: Document) -> str:
    import matplotlib.pyplot as plt

    hubs = list(metrics["hubs"])
    fig, axes = plt.subplots(1, len(hubs), figsize=(5 * len(hubs), 4), squeeze=False)
    for ax, hub in zip(axes[0], hubs, strict=True):
        per_arm = {a: f for a, f in metrics["hubs"][hub]["per_arm"].items() if f.get("n")}
        names = list(per_arm)
        x = range(len(names))
        ast = [100 * per_arm[a]["ast_accuracy"] for a in names]
        strict = [100 * per_arm[a]["strict_accuracy"] for a in names]
        ax.bar([i - 0.2 for i in x], ast, width=0.4, label="AST accuracy")
        ax.bar([i + 0.2 for i in x], strict, width=0.4, label="strict")
        ax.set_xticks(list(x), names, rotation=20)
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of questions")
        ax.set_title(hub)
        cost = ax.twinx()
        cost.plot(list(x), [per_arm[a]["cost_per_1k"] for a in names], "k^--", label="$ / 1k")
        cost.set_ylabel("$ per 1,000 requests")
        if hub == hubs[0]:
            ax.legend(loc="upper left", fontsize=8)
            cost.legend(loc="upper right", fontsize=8)
    return _save(fig, out, "accuracy_cost.png")


def _frontier(out: Path, study: Document) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for arm, point in study["fixed_arms"].items():
        ax.scatter(point["cost_per_1k"], 100 * point["accuracy"], marker="s", s=60)
        ax.annotate(arm, (point["cost_per_1k"], 100 * point["accuracy"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip
    for policy in dict.fromkeys(p["policy"] for p in study["frontier"]):
        points = [p for p in study["frontier"] if p["policy"] == policy]
        ax.plot([p["cost_per_1k"] for p in points], [100 * p["accuracy"] for p in points],
                "o-", label=f"router ({policy})")  # fmt: skip
        for p in points:
            ax.annotate(f"{p['weights'][1]:g}", (p["cost_per_1k"], 100 * p["accuracy"]),
                        fontsize=7, xytext=(3, -10), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("$ per 1,000 requests")
    ax.set_ylabel("AST accuracy (%)")
    ax.set_title("Cost against accuracy (labels: cost weight)")
    ax.legend(fontsize=8)
    return _save(fig, out, "frontier.png")


def _learning(out: Path, study: Document) -> str:
    import matplotlib.pyplot as plt

    policies = study["policies"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for name, curve in policies.items():
        axes[0].plot(curve["cumulative_reward"], label=name)
        axes[1].plot(curve["regret_vs_best_fixed"], label=name)
    axes[0].plot(
        study["best_fixed_cumulative"], "k--", label=f"best fixed ({study['best_fixed_arm']})"
    )
    axes[0].set_title("Cumulative reward")
    axes[1].set_title(f"Regret against {study['best_fixed_arm']}")
    for ax in axes[:2]:
        ax.set_xlabel("question")
        ax.legend(fontsize=7)
    shown = study.get("default_policy", "sla")  # studies written before it was recorded
    shown = shown if shown in policies else next(iter(policies))
    for arm, series in policies[shown]["share"].items():
        axes[2].plot([100 * v for v in series], label=arm)
    axes[2].set_title(f"Arm share so far, {shown} (%)")
    axes[2].set_xlabel("question")
    axes[2].legend(fontsize=7)
    return _save(fig, out, "learning.png")


def _learning_rate(out: Path, study: Document) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for policy, sweep in study["learning_rates"].items():
        ax.plot(sweep["values"], sweep["cumulative_reward"], "o-",
                label=f"{policy} ({sweep['param']})")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("cumulative reward")
    ax.set_title("Learning rate (mean of seeds " + ", ".join(map(str, study["seeds"])) + ")")
    ax.legend(fontsize=8)
    return _save(fig, out, "learning_rate.png")


def _save(fig: Any, out: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out / name, dpi=_DPI)
    plt.close(fig)
    return name
