"""Build tests/data/filter_eval/records.jsonl from run folders and the hand labels in labels.tsv.

    python tests/data/filter_eval/make/build.py [RUN_FOLDER ...]

labels.tsv: record id, label (keep | reject), reason; one line per record (kept and rejected). Records already in
records.jsonl stay (their run folders are not kept), relabelled from labels.tsv; records of the runs named are added.
The split is fixed by the instruction, not the record, so one instruction never sits in both parts.
"""
import json
import sys
from pathlib import Path

import xxhash

HERE = Path(__file__).parent
OUT = HERE.parent / "records.jsonl"
HELD_OUT_SHARE = 0.62
SPLIT_SEED = 14


def split_of(instruction: str) -> str:
    draw = xxhash.xxh64_intdigest(" ".join(instruction.lower().split()).encode(), seed=SPLIT_SEED) / 2**64
    return "held_out" if draw < HELD_OUT_SHARE else "train"


def run_records(runs: list[Path]) -> list[dict]:
    records = []
    for run, kind in ((run, kind) for run in runs for kind in ("records", "rejects")):
        for path in sorted((run / kind).glob("*.jsonl")):
            records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return records


def main(runs: list[Path]) -> None:
    labels = {}
    for line in (HERE / "labels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rid, label, reason = line.split("\t")
            labels[rid] = (label, reason)
    existing = [json.loads(line)["record"] for line in OUT.read_text(encoding="utf-8").splitlines()] \
        if OUT.exists() else []
    rows, seen = [], set()
    for record in existing + run_records(runs):
        if record["id"] in seen:
            continue
        seen.add(record["id"])
        record["verdicts"] = []
        label, reason = labels.pop(record["id"])
        first_user = next(m["content"] for m in record["messages"] if m["role"] == "user")
        rows.append({"record": record, "label": label, "reason": reason, "split": split_of(first_user)})
    if labels:
        raise SystemExit(f"labels.tsv names {len(labels)} records that neither records.jsonl nor the runs hold")
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{OUT}: {len(rows)} records, {sum(r['split'] == 'held_out' for r in rows)} held out")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
