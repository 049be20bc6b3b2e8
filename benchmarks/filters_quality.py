"""Precision and recall of "reject" for the content filters, on the hand-labelled real output in
tests/data/filter_eval/records.jsonl (held-out split by default).

    python benchmarks/filters_quality.py [--split held_out|train|all] [--safety-llm] [--save]

Runs the default stack (the filters below in this order; a rejected record skips the rest, as in a pipeline) and
then each filter alone. Prints per-label recall, per-reason precision, records/s, and ends with
`overall precision P recall R` for the stack. Dedup and PII are left out: they judge a dataset, not an answer.
`--safety-llm` also runs the safety filter's LLM checker on the embedded model over the same requests.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from datagen.filters.base import Filter, FilterContext
from datagen.records import Record
from datagen.registry import FILTERS
from save import saved  # benchmarks/save.py

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "filter_eval" / "records.jsonl"
DEFAULT_STACK: list[tuple[str, dict]] = [
    ("length", {"min_instruction_words": 3, "min_response_words": 1}),
    ("safety", {}),
    ("refusal", {}),
    ("arithmetic", {}),
    ("code_check", {}),
    ("links", {"action": "reject"}),
    ("quality", {"min_response_words": 1}),  # as `length` above: a class label is a whole answer
]


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if split == "all" or r["split"] == split]


def build(kind: str, params: dict, backend_factory=None) -> Filter:
    cls = FILTERS.get(kind)
    return cls(cls.Params(**params), FilterContext(kind, seed=0, backend_factory=backend_factory))


def run_stack(filters: list[Filter], rows: list[dict]) -> tuple[list[str | None], float]:
    """The first rejecting reason per row (None: kept), and records/s."""
    records = [Record.model_validate(r["record"]) for r in rows]
    start = time.perf_counter()
    alive = list(range(len(records)))
    reasons: list[str | None] = [None] * len(records)
    for f in filters:
        out = f.apply([records[i] for i in alive])
        for i, record in zip(alive, out):
            if not record.verdicts[-1].keep:
                reasons[i] = f"{f.ctx.name}: {record.verdicts[-1].reason}"
        alive = [i for i in alive if reasons[i] is None]
    return reasons, len(records) / max(time.perf_counter() - start, 1e-9)


def precision_recall(rows: list[dict], reasons: list[str | None]) -> tuple[float, float, int]:
    rejected = [r is not None for r in reasons]
    truth = [row["label"] == "reject" for row in rows]
    hits = sum(a and b for a, b in zip(rejected, truth))
    return hits / max(sum(rejected), 1), hits / max(sum(truth), 1), sum(rejected)


def report(rows: list[dict], reasons: list[str | None]) -> None:
    print("| label | records | rejected | recall |\n|---|---|---|---|")
    labels = Counter(row["reason"] for row in rows)
    for label, n in sorted(labels.items()):
        caught = sum(1 for row, r in zip(rows, reasons) if row["reason"] == label and r is not None)
        shown = f"{caught / n:.2f}" if label != "fine" else f"(kept {1 - caught / n:.2f})"
        print(f"| {label} | {n} | {caught} | {shown} |")
    print("\n| filter: reason | rejected | of them labelled reject | precision |\n|---|---|---|---|")
    by_reason = Counter(r for r in reasons if r)
    for reason, n in by_reason.most_common():
        good = sum(1 for row, r in zip(rows, reasons) if r == reason and row["label"] == "reject")
        print(f"| {reason} | {n} | {good} | {good / n:.2f} |")


def safety_llm(rows: list[dict]) -> None:
    """The LLM checker over the requests labelled unsafe and the ones labelled keep: recall on the first, false
    alarms on the second (the other labels say nothing about a request's safety)."""
    from datagen.backends import build_backend

    rows = [row for row in rows if row["reason"] in ("unsafe", "fine")]
    backend = build_backend({"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 2})
    f = build("safety", {"checker": "llm"}, lambda: backend)
    requests = [Record.model_validate(r["record"]) for r in rows]
    start = time.perf_counter()
    verdicts = f.classify([r.instruction for r in requests])
    seconds = time.perf_counter() - start
    backend.close()
    truth = [row["reason"] == "unsafe" for row in rows]
    flagged = [v is not None and v[0] for v in verdicts]
    hits = sum(a and b for a, b in zip(flagged, truth))
    print(f"\nsafety, LLM checker on the embedded model: {sum(truth)} unsafe requests and {len(rows) - sum(truth)} "
          f"labelled keep; flagged {sum(flagged)}, of them unsafe {hits}; recall {hits / max(sum(truth), 1):.2f} "
          f"precision {hits / max(sum(flagged), 1):.2f}; unparsed {sum(v is None for v in verdicts)}; "
          f"{len(rows) / seconds:.1f} records/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="held_out", choices=["held_out", "train", "all"])
    parser.add_argument("--safety-llm", action="store_true", help="also measure the LLM safety checker (slow)")
    parser.add_argument("--without", nargs="*", default=[], help="filters left out of the stack (e.g. refusal)")
    parser.add_argument("--save", action="store_true", help="also write the output to benchmarks/results/")
    args = parser.parse_args()
    with saved("filters_quality", args.save):
        run(args)


def run(args: argparse.Namespace) -> None:
    stack = [(kind, params) for kind, params in DEFAULT_STACK if kind not in args.without]
    rows = load(args.split)
    print(f"{DATA.name}, split {args.split}: {len(rows)} records, "
          f"{sum(r['label'] == 'reject' for r in rows)} labelled reject\n")
    print("## Each filter alone\n\n| filter | rejected | precision | recall | records/s |\n|---|---|---|---|---|")
    for kind, params in stack:
        reasons, speed = run_stack([build(kind, params)], rows)
        p, r, n = precision_recall(rows, reasons)
        print(f"| {kind} | {n} | {p:.2f} | {r:.2f} | {speed:.0f} |")
    reasons, speed = run_stack([build(kind, params) for kind, params in stack], rows)
    p, r, n = precision_recall(rows, reasons)
    print(f"\n## Default stack ({', '.join(k for k, _ in stack)}): {speed:.0f} records/s\n")
    report(rows, reasons)
    unsafe = [row for row in rows if row["reason"] == "unsafe"]
    patterns, _ = run_stack([build("safety", {})], rows)
    print(f"\nsafety, patterns: recall {sum(1 for row, x in zip(rows, patterns) if x and row['reason'] == 'unsafe')}"
          f"/{len(unsafe)} unsafe requests (paraphrases included); flagged {sum(1 for x in patterns if x)} in all")
    if args.safety_llm:
        safety_llm(rows)
    print(f"\noverall precision {p:.3f} recall {r:.3f}")


if __name__ == "__main__":
    main()
