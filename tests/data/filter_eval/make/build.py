"""Build tests/data/filter_eval/records.jsonl from a run folder and the hand labels in labels.tsv.

    python tests/data/filter_eval/make/build.py RUN_FOLDER [RUN_FOLDER ...]

labels.tsv: record id, label (keep | reject), reason; one line per record of the runs (kept and rejected).
The split is fixed by the instruction, not the record, so one instruction never sits in both parts.
"""
import json
import sys
from pathlib import Path

import xxhash

HERE = Path(__file__).parent
HELD_OUT_SHARE = 0.62
SPLIT_SEED = 14


def split_of(instruction: str) -> str:
    draw = xxhash.xxh64_intdigest(" ".join(instruction.lower().split()).encode(), seed=SPLIT_SEED) / 2**64
    return "held_out" if draw < HELD_OUT_SHARE else "train"


def main(runs: list[Path]) -> None:
    labels = {}
    for line in (HERE / "labels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rid, label, reason = line.split("\t")
            labels[rid] = (label, reason)
    rows = []
    for run, kind in ((run, kind) for run in runs for kind in ("records", "rejects")):
        for path in sorted((run / kind).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                record["verdicts"] = []
                label, reason = labels.pop(record["id"])
                first_user = next(m["content"] for m in record["messages"] if m["role"] == "user")
                rows.append({"record": record, "label": label, "reason": reason, "split": split_of(first_user)})
    if labels:
        raise SystemExit(f"labels.tsv names {len(labels)} records the run does not hold")
    out = HERE.parent / "records.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} records, {sum(r['split'] == 'held_out' for r in rows)} held out")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
