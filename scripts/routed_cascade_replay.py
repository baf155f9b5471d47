"""How the learning router does on the function-calling cases, over many seeds.

One `bench calls --arm routed` run is one random trajectory of a learning policy: too
noisy to compare reward settings on (two runs of the same code served the template arm
80 and 1 times). This script separates the expensive part from the random one:

1. `collect`: every development case answered routed, once per starting arm (the policy
   pinned to `fixed:<arm>`, the cascade after it as the service runs it), recording what
   the router was taught for each (arm, verification accuracy, cost, latency) and whether
   the answer was exact. Through the same code as `bench calls`.
2. `replay`: a fresh policy chooses the starting arm for each case in question order (or
   shuffled), learns from the recorded teachings with the given reward settings, and the
   figures that result are summarised over 40 seeds: `exact` and cost as ratios of the
   policy pinned to the best arm's (the PickLLM claim: >= 95% of its exactness at <= 50%
   of its cost).

    .venv/bin/python scripts/routed_cascade_replay.py collect /tmp/starts.json
    .venv/bin/python scripts/routed_cascade_replay.py replay /tmp/starts.json --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

SEEDS = range(40)


def collect(out: Path, starts: list[str]) -> None:
    from agent.calls.dataset import build_cases
    from agent.chat.bench import ROUTED, _ask
    from agent.cli.common import open_retriever, open_store, settings
    from agent.pipeline import Pipeline
    from agent.pool import PoolConfig, load_pool
    from agent.toolset import ToolsetCache

    cases = build_cases(0)
    config = settings()
    base = load_pool(config).model_dump(exclude_none=True)
    retriever = open_retriever(open_store(), show_progress=False)
    rows: list[dict[str, Any]] = []
    for start in starts:
        pool = PoolConfig.model_validate(base | {"router": {"policy": f"fixed:{start}"}})
        with (
            tempfile.TemporaryDirectory() as scratch,
            Pipeline.open(
                config.scratch(Path(scratch)), retriever=retriever, pool_config=pool
            ) as p,
        ):
            toolsets = ToolsetCache(p.tools_embedder, p.tools_config, capacity=512)
            _ask(p, toolsets, cases[0], ROUTED)  # warm-up, not counted
            taught = _Recorder(p.router.update)
            p.router.update = taught  # type: ignore[method-assign]
            for n, case in enumerate(cases, 1):
                taught.clear()
                judged = _ask(p, toolsets, case, ROUTED)
                rows.append(
                    {"start": start, "kind": case.kind, "source": case.source,
                     "exact": judged.exact, "called": bool(judged.called), "cost": judged.cost,
                     "taught": list(taught)}
                )  # fmt: skip
                print(f"{start}: {n}/{len(cases)}", file=sys.stderr, flush=True)
            toolsets.close()
    out.write_text(json.dumps(rows))


class _Recorder(list[dict[str, Any]]):
    """Stands in for `Router.update`: remembers each teaching, then passes it on."""

    def __init__(self, update: Any) -> None:
        super().__init__()
        self.update = update

    def __call__(self, arm: str, context: Any, **outcome: Any) -> float:
        self.append({"arm": arm} | {k: v for k, v in outcome.items() if k != "weights"})
        return float(self.update(arm, context, **outcome))


def replay(
    rows: list[dict[str, Any]],
    policy: str,
    params: dict[str, Any],
    *,
    cost_ref_usd: float | None,
    shuffle: bool,
    seed: int,
) -> tuple[float, float, Counter[str]]:
    """(exact share over the relevant cases, total cost, starts) of one trajectory."""
    from router import RewardScale, RewardWeights, normalised, reward
    from router.policies import RouteContext
    from router.registry import make_policy

    arms = sorted({r["start"] for r in rows})
    by_case = {(r["start"], r["kind"], r["source"]): r for r in rows}
    order = [(r["kind"], r["source"]) for r in rows if r["start"] == arms[0]]
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    chooser = make_policy(policy, arms, dim=1, seed=seed, **params)
    weights, scale = RewardWeights(), RewardScale(cost_ref_usd=cost_ref_usd)
    context = RouteContext(None, None)
    costs: dict[str, list[float]] = defaultdict(list)  # the router's per-arm stats
    exact = cost = 0.0
    starts: Counter[str] = Counter()
    for kind, source in order:
        start = chooser.ranking(context)[0]
        starts[start] += 1
        row = by_case[(start, kind, source)]
        exact += row["exact"]
        cost += row["cost"]
        for t in row["taught"]:
            dearest = max((float(np.mean(v)) for v in costs.values()), default=None)
            value = reward(
                t["accuracy"], t["cost"], t["latency_s"], weights, scale, dearest=dearest
            )
            costs[t["arm"]].append(t["cost"])
            chooser.update(t["arm"], context, normalised(value, weights))
    relevant = sum(1 for kind, _ in order if kind != "decline")
    return exact / relevant, cost, starts


def summarise(rows: list[dict[str, Any]], best: str) -> dict[str, Any]:
    def pinned(start: str) -> tuple[float, float]:
        mine = [r for r in rows if r["start"] == start]
        relevant = [r for r in mine if r["kind"] != "decline"]
        return sum(r["exact"] for r in relevant) / len(relevant), sum(r["cost"] for r in mine)

    best_exact, best_cost = pinned(best)
    report: dict[str, Any] = {"n": sum(1 for r in rows if r["start"] == best), "against": best}
    for start in sorted({r["start"] for r in rows}):
        exact, cost = pinned(start)
        report[f"fixed:{start}"] = {"exact": exact / best_exact, "cost": cost / best_cost}
    settings = [
        ("thompson", {}, None), ("thompson", {}, 0.001), ("thompson", {"prior": "gaussian"}, None),
        ("ucb1", {}, None), ("ucb1", {}, 0.001), ("sla", {}, None), ("qlearning", {}, None),
    ]  # fmt: skip
    for policy, params, ref in settings:
        for shuffle in (False, True):
            runs = [replay(rows, policy, params, cost_ref_usd=ref, shuffle=shuffle, seed=s)
                    for s in SEEDS]  # fmt: skip
            exact_ratios = [e / best_exact for e, _, _ in runs]
            cost_ratios = [c / best_cost for _, c, _ in runs]
            starts: Counter[str] = sum((s for _, _, s in runs), Counter())
            label = f"{policy}{params or ''} cost_ref={ref or 'dearest arm'}"
            label += " shuffled" if shuffle else " in order"
            report[label] = {
                "exact_median": round(float(np.median(exact_ratios)), 3),
                "exact_p10": round(float(np.percentile(exact_ratios, 10)), 3),
                "cost_median": round(float(np.median(cost_ratios)), 3),
                "cost_p90": round(float(np.percentile(cost_ratios, 90)), 3),
                "starts_per_run": {a: round(n / len(SEEDS)) for a, n in starts.most_common()},
            }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="answer every case once per starting arm")
    c.add_argument("out", type=Path)
    c.add_argument("--start", action="append", help="starting arm (repeatable); default: "
                   "template, llamacpp, moa")  # fmt: skip
    r = sub.add_parser("replay", help="learning policies over the collected outcomes")
    r.add_argument("data", type=Path)
    r.add_argument("--against", default="llamacpp", help="the arm the ratios are of")
    r.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.out, args.start or ["template", "llamacpp", "moa"])
        return
    report = summarise(json.loads(args.data.read_text()), args.against)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for label, figures in report.items():
        print(f"{label}: {figures}")


if __name__ == "__main__":
    main()
