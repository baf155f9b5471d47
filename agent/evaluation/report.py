"""`DIR/report.md`: the metrics as tables a person reads, beside the Gorilla anchors."""

from __future__ import annotations

from pathlib import Path

from agent.evaluation.metrics import ANCHORS
from agent.evaluation.records import Document


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _split_words(split: str) -> str:
    return {
        "heldout": "held-out (`question_id % 5 != 0`; no choice was made on these questions)",
        "dev": "dev (`question_id % 5 == 0`; the questions choices are made on)",
        "all": "every question (the dev ones included)",
    }.get(split, split)


def _embedder_words(run: Document) -> str:
    name = run.get("embedder")
    if name is None:
        return "not recorded (a run from before this was written down)"
    seen = {
        True: "trained on some of these questions: contaminated",
        False: "not trained on these questions",
        None: "unknown whether it was trained on these questions",
    }[run.get("contaminated")]
    return f"`{name}`, {seen}"


def render_report(metrics: Document, plots: list[str] | None = None) -> str:
    run = metrics["run"]
    hubs = metrics["hubs"]
    lines = [
        "# APIBench evaluation",
        "",
        f"- **Reward mode: {run['reward_mode']}** "
        + (
            "(the router learns from sandbox execution outcomes only)"
            if run["reward_mode"] == "execution"
            else "(the router learns from the evaluator's AST verdict)"
        ),
        f"- Arms: {', '.join(run['arms'])}"
        + (
            f" (beside them, not routed: {', '.join(run['references'])})"
            if run.get("references")
            else ""
        )
        + f"; policy: `{run['policy']}`; weights (accuracy, "
        f"cost, latency): {run['weights']['accuracy']:g}, {run['weights']['cost']:g}, "
        f"{run['weights']['latency']:g}",
        "- Questions: "
        + ", ".join(f"{h} {m['served']['n']}" for h, m in hubs.items())
        + (f" (seed {run['sample_seed']})" if run.get("sample_seed") is not None else "")
        + (f", at most {run['limit']} per hub" if run.get("limit") else ""),
        f"- Split: {_split_words(run.get('split', 'all'))}",
        f"- Embedder: {_embedder_words(run)}",
        f"- Counterfactual answers from every arm: {'yes' if run.get('counterfactual') else 'no'}",
        "",
        "## What the router served",
        "",
        "AST accuracy is Gorilla's metric (the call matches a catalog API of the gold domain); "
        "strict is the exact gold API. Percentages.",
        "",
        "| hub | n | AST accuracy | hallucination | AST error | strict | execution ok | "
        "cost / 1k req ($) | latency p50 / p95 (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for hub, figures in hubs.items():
        s = figures["served"]
        lines.append(
            f"| {hub} | {s['n']} | **{_pct(s['ast_accuracy'])}** | {_pct(s['hallucination'])} | "
            f"{_pct(s['ast_error'])} | {_pct(s['strict_accuracy'])} | "
            f"{_pct(s['execution_success'])} | {_num(s['cost_per_1k'], 4)} | "
            f"{_num(s['latency_p50_ms'], 1)} / {_num(s['latency_p95_ms'], 1)} |"
        )
    lines += [
        "",
        "Anchors, Gorilla paper (arXiv 2305.15334) Table 1, AST accuracy:",
        "",
        "| system | torchhub | huggingface | tensorflowhub |",
        "|---|---|---|---|",
    ]
    for name, row in ANCHORS.items():
        lines.append(
            f"| {name} | {row['torchhub']:.2f} | {row['huggingface']:.2f} | "
            f"{row['tensorflowhub']:.2f} |"
        )
    lines += ["", "## Every arm on every question", ""]
    lines += [
        "| hub | arm | AST accuracy | hallucination | strict | execution ok | "
        "cost / 1k req ($) | latency p50 (ms) | mean reward |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for hub, figures in hubs.items():
        for arm, a in figures["per_arm"].items():
            if not a.get("n"):
                continue
            label = f"{arm} (reference, not routed)" if a.get("reference") else arm
            lines.append(
                f"| {hub} | {label} | {_pct(a['ast_accuracy'])} | {_pct(a['hallucination'])} | "
                f"{_pct(a['strict_accuracy'])} | {_pct(a['execution_success'])} | "
                f"{_num(a['cost_per_1k'], 4)} | {_num(a['latency_p50_ms'], 1)} | "
                f"{_num(a['mean_reward'], 3)} |"
            )
    if not run.get("counterfactual"):
        lines += [
            "",
            "(Each routed arm only on the questions it served"
            + ("; the references on every question.)" if run.get("references") else ".)"),
        ]
    lines += ["", "## The router", ""]
    lines += [
        "| hub | cumulative reward | best fixed arm | its reward | regret vs best fixed | "
        "regret vs oracle | within 5% of best fixed from step | settled at step | served |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for hub, figures in hubs.items():
        r = figures["router"]
        served = ", ".join(f"{a} {n}" for a, n in sorted(r["served"].items()))
        lines.append(
            f"| {hub} | {_num(r['cumulative_reward'])} | {r.get('best_fixed_arm', '–')} | "
            f"{_num(r.get('best_fixed_reward'))} | {_num(r.get('regret_vs_best_fixed'))} | "
            f"{_num(r.get('regret_vs_oracle'))} | {r.get('within_5pct_of_best_fixed_at') or '–'} | "
            f"{r['settled_step'] or '–'} | {served} |"
        )
    study = metrics.get("study")
    if study:
        lines += _study_section(study)
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    lines += [
        "",
        "## How to read this",
        "",
        "- AST accuracy is loose by design (Gorilla's): any API of the gold domain counts, "
        "the first catalog match decides, and only the call is judged. Strict accuracy "
        "asks for the gold API itself.",
        "- Regret compares the router's served rewards with the best single arm in "
        "hindsight and with the best arm for each question (the oracle), on the same "
        "question order.",
        "",
    ]
    return "\n".join(lines)


def _study_section(study: Document) -> list[str]:
    lines = [
        "",
        "## The policies on the same logged outcomes",
        "",
        f"Every arm's outcome on all {study['questions']} questions was logged; fresh "
        "policies replay them in the same order, each learning only from the arm it chose "
        f"(mean of seeds {', '.join(map(str, study['seeds']))}). Best fixed arm in "
        f"hindsight: {study['best_fixed_arm']}.",
        "",
        "| policy | AST accuracy | $ / 1k req | cumulative reward | regret vs best fixed | "
        "within 5% of best fixed from question |",
        "|---|---|---|---|---|---|",
    ]
    for name, curve in study["policies"].items():
        lines.append(
            f"| {name} | {_pct(curve['accuracy'])} | {_num(curve['cost_per_1k'], 4)} | "
            f"{_num(curve['cumulative_reward'][-1])} | {_num(curve['regret_vs_best_fixed'][-1])} | "
            f"{curve['within_5pct_of_best_fixed_at'] or 'never'} |"
        )
    lines += [
        "",
        "Reward weights that price cost, against always using the most accurate arm:",
        "",
        "| policy | weights (acc, cost, lat) | AST accuracy | $ / 1k req | accuracy kept | "
        "cost paid |",
        "|---|---|---|---|---|---|",
    ]
    for point in study["cost_savings"]:
        w = point["weights"]
        lines.append(
            f"| {point['policy']} | {w[0]:g}, {w[1]:g}, {w[2]:g} | {_pct(point['accuracy'])} | "
            f"{_num(point['cost_per_1k'], 4)} | {_pct(point['accuracy_kept'])} | "
            f"{_pct(point['cost_paid'])} |"
        )
    sweep = study["learning_rates"]
    lines += ["", "Learning rate (cumulative reward):", ""]
    for policy, values in sweep.items():
        pairs = ", ".join(
            f"{v:g}: {r:.1f}"
            for v, r in zip(values["values"], values["cumulative_reward"], strict=True)
        )
        lines.append(f"- {policy} ({values['param']}): {pairs}")
    return lines


def write_report(out: Path, metrics: Document, plots: list[str] | None = None) -> Path:
    path = out / "report.md"
    path.write_text(render_report(metrics, plots))
    return path
