"""Write a run's kept records in one of the training formats (see datagen.formats)."""
from __future__ import annotations

import json
from pathlib import Path

from datagen.formats import convert
from datagen.run_folder import RunFolder, atomic_write


def export_records(run_dir: str | Path, fmt: str, out: str | Path) -> int:
    """`.json` gets one JSON array (Alpaca's usual file), anything else JSON Lines."""
    run = RunFolder(run_dir).require()
    out = Path(out)
    if run.owns(out):
        raise ValueError(f"{out} is a file of the run {run.path} itself; write the export somewhere else")
    if out.is_dir():
        raise ValueError(f"{out} is a folder; give a file name, e.g. {out / (fmt + '.jsonl')}")
    rows = [convert(r, fmt) for r in run.records()]
    if out.suffix == ".json":
        text = json.dumps(rows, ensure_ascii=False, indent=1)
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write(out, text)
    return len(rows)
