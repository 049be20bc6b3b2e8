"""The content filters on the hand-labelled real model output in tests/data/filter_eval: what they reject is labelled
reject, and they catch the reasons they are for. The full table is benchmarks/filters_quality.py."""
import json
from pathlib import Path

import pytest

from datagen.filters.base import FilterContext
from datagen.records import Record
from datagen.registry import FILTERS

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "data" / "filter_eval" / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def rejected(kind: str, rows: list[dict], **params) -> list[dict]:
    cls = FILTERS.get(kind)
    f = cls(cls.Params(**params), FilterContext(kind))
    out = f.apply([Record.model_validate(r["record"]) for r in rows])
    return [row for row, record in zip(rows, out) if not record.verdicts[-1].keep]


def test_the_set_is_labelled_and_split():
    assert len(ROWS) >= 100 and {r["split"] for r in ROWS} == {"train", "held_out"}
    assert all((r["label"] == "keep") == (r["reason"] == "fine") for r in ROWS)


@pytest.mark.parametrize("kind,params,reason", [
    ("arithmetic", {}, "wrong_arithmetic"),
    ("code_check", {}, "broken_code"),
    ("links", {"action": "reject"}, "hallucinated_link_or_citation"),
    ("safety", {}, "unsafe"),
])
def test_filter_rejects_only_bad_records_and_finds_its_reason(kind, params, reason):
    hits = rejected(kind, ROWS, **params)
    assert hits and all(row["label"] == "reject" for row in hits)
    own = [row for row in ROWS if row["reason"] == reason]
    assert sum(row in hits for row in own) >= len(own) / 2, (kind, len(own))
