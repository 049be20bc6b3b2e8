"""The evaluation report: report.md (base vs tuned on every metric, with n and 95% intervals; one row per
ablation) and a PNG plot; and the headline lines `NAME: base B tuned T n N`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.evaluate.tasks import proportion
from datagen.run_folder import EvalOutputs

# (label, key path in metrics[model], count key path, scale to percent)
ROWS = [
    ("held-out ROUGE-L (x100)", ("heldout", "rouge_l"), ("heldout", "n"), 100),
    ("judge score (0-100)", ("judge", "mean"), ("judge", "scored"), 1),
    ("IFEval prompt-level strict %", ("ifeval", "prompt_strict"), ("ifeval", "prompts"), 100),
    ("IFEval prompt-level loose %", ("ifeval", "prompt_loose"), ("ifeval", "prompts"), 100),
    ("IFEval instruction-level strict %", ("ifeval", "instruction_strict"), ("ifeval", "instructions"), 100),
    ("IFEval instruction-level loose %", ("ifeval", "instruction_loose"), ("ifeval", "instructions"), 100),
    ("answers that ended by themselves %", ("stopped", "share"), ("stopped", "n"), 100),
]
# proportions with intervals: (label, key in metrics[model])
RATES = [
    ("accuracy, held-out rows of trained tasks %", "trained_accuracy"),
    ("accuracy, held-out task cluster (zero-shot) %", "heldout_cluster_accuracy"),
    ("open prompts: ended by itself %", "open_stopped"),
    ("open prompts: answered, did not continue the prompt %", "open_answered"),
]
# headline name -> (key in metrics[model]); IFEval and the judge are added when present
HEADLINE = [("trained_tasks_accuracy", "trained_accuracy"), ("heldout_cluster_accuracy", "heldout_cluster_accuracy"),
            ("ended_by_itself", "open_stopped"), ("answered_not_continued", "open_answered")]


def _get(data: dict, path: tuple[str, str]) -> Any:
    return (data.get(path[0]) or {}).get(path[1])


def _ifeval_rate(m: dict) -> dict | None:
    ife = m.get("ifeval")
    return proportion(ife["prompt_strict_count"], ife["prompts"]) if ife and ife.get("prompts") else None


def _pct(rate: dict | None) -> float | None:
    return None if not rate or rate.get("value") is None else 100 * rate["value"]


def cell(rate: dict | None) -> str:
    if not rate or rate.get("value") is None:
        return "-"
    return f"{100 * rate['value']:.1f} [{100 * rate['low']:.1f}, {100 * rate['high']:.1f}]"


def rows(metrics: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    """(label, base, tuned, n) for the plain metrics (no intervals)."""
    out = []
    for label, path, count, scale in ROWS:
        base, tuned = _get(metrics["base"], path), _get(metrics["tuned"], path)
        if base is None and tuned is None:
            continue
        n = _get(metrics["tuned"], count) or _get(metrics["base"], count)
        out.append((label, None if base is None else round(base * scale, 1),
                    None if tuned is None else round(tuned * scale, 1), n))
    return out


def rate_rows(metrics: dict[str, Any]) -> list[tuple[str, dict, dict]]:
    """(label, base rate, tuned rate) for every proportion, per task included."""
    base, tuned = metrics["base"], metrics["tuned"]
    out = [(label, base.get(key), tuned.get(key)) for label, key in RATES if (tuned.get(key) or {}).get("n")]
    if _ifeval_rate(tuned):
        out.append(("IFEval prompt-level strict %", _ifeval_rate(base), _ifeval_rate(tuned)))
    for name, task in (tuned.get("tasks") or {}).items():
        for what in ("accuracy", "answered", "stopped"):
            out.append((f"{name} ({task['cluster']} {task['task_type']}): {what} %",
                        base["tasks"][name][what], task[what]))
    return out


def headline(metrics: dict[str, Any], headline_judge: bool) -> list[str]:
    """`NAME: base B tuned T n N`, one line per headline metric present."""
    lines = []
    base, tuned = metrics["base"], metrics["tuned"]
    pairs = [(name, base.get(key), tuned.get(key)) for name, key in HEADLINE]
    pairs.append(("ifeval_prompt_strict", _ifeval_rate(base), _ifeval_rate(tuned)))
    for name, b, t in pairs:
        if b and t and t.get("n"):
            lines.append(f"{name}: base {b['value']:.4f} tuned {t['value']:.4f} n {t['n']}")
    if headline_judge and (tuned.get("judge") or {}).get("mean") is not None:
        lines.append(f"judge_score: base {base['judge']['mean']} tuned {tuned['judge']['mean']} "
                     f"n {tuned['judge']['scored']}")
    return lines


def ablation_rows(metrics: dict[str, Any], train_summary: dict[str, Any]) -> list[str]:
    variants = [("tuned", "main run", train_summary)] + [
        (label, label.split(":", 1)[1], (train_summary.get("ablations") or {}).get(label.split(":", 1)[1], {}))
        for label in metrics if label.startswith("ablation:")]
    if len(variants) == 1:
        return []
    lines = ["", "## Ablations (same data split, same evaluation)", "",
             "| variant | changed | trained-task acc % | held-out cluster acc % | ended by itself % | "
             "answered % | train loss | train s | train tokens/s |", "|---|---|---|---|---|---|---|---|---|"]
    for label, name, facts in variants:
        m = metrics[label]
        changed = ", ".join(f"{k}={v}" for k, v in sorted((facts.get("changes") or {}).items())) or "-"
        lines.append(f"| {name} | {changed} | {cell(m.get('trained_accuracy'))} | "
                     f"{cell(m.get('heldout_cluster_accuracy'))} | {cell(m.get('open_stopped'))} | "
                     f"{cell(m.get('open_answered'))} | {facts.get('train_loss', '-')} | {facts.get('seconds', '-')} | "
                     f"{facts.get('train_tokens_per_s', '-')} |")
    return lines


def write_report(metrics: dict[str, Any], out: EvalOutputs, header: list[str],
                 train_summary: dict[str, Any] | None = None) -> Path:
    table = rows(metrics)
    lines = ["# Evaluation: base vs tuned", "", *header, ""]
    rates = rate_rows(metrics)
    if rates:
        lines += ["Rates in %, with the 95% Wilson interval in brackets.", "",
                  "| metric | base | tuned | n |", "|---|---|---|---|"]
        lines += [f"| {label} | {cell(b)} | {cell(t)} | {(t or {}).get('n', '-')} |" for label, b, t in rates]
        lines.append("")
    lines += ["| metric | base | tuned | n |", "|---|---|---|---|"]
    lines += [f"| {label} | {base} | {tuned} | {n} |" for label, base, tuned, n in table]
    lines += ablation_rows(metrics, train_summary or {})
    types_base = (metrics["base"].get("ifeval") or {}).get("per_type_strict", {})
    types_tuned = (metrics["tuned"].get("ifeval") or {}).get("per_type_strict", {})
    if types_base:
        lines += ["", "## IFEval per instruction type (strict, passed/total)", "",
                  "| type | base | tuned |", "|---|---|---|"]
        lines += [f"| {t} | {types_base[t]} | {types_tuned.get(t, '-')} |" for t in types_base]
    lines += ["", "![metrics](metrics.png)", ""]
    _plot(table + [(label, _pct(b), _pct(t), None) for label, b, t in rates[:len(RATES)]], out.plot)
    out.report.write_text("\n".join(lines), encoding="utf-8")
    return out.report


def _plot(table: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [t[0] for t in table]
    ys = range(len(table))
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.55 * len(table)))
    ax.barh([y + 0.2 for y in ys], [t[1] or 0 for t in table], height=0.4, label="base")
    ax.barh([y - 0.2 for y in ys], [t[2] or 0 for t in table], height=0.4, label="tuned")
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.set_xlabel("score")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
