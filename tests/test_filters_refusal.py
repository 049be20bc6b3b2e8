"""The refusal head (logistic regression on MiniLM embeddings, trained on the train split only) on real output."""
import json
from pathlib import Path

import pytest

from datagen.filters.base import FilterContext
from datagen.filters.refusal import Refusal, sentences
from datagen.records import Provenance, make_record

ROWS = [json.loads(line) for line in
        (Path(__file__).parent / "data" / "filter_eval" / "records.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def head():
    return Refusal(Refusal.Params(), FilterContext("refusal"))


def test_held_out_pseudo_refusals_rejected_and_keeps_kept(head):
    rows = [r for r in ROWS if r["split"] == "held_out" and r["reason"] in ("refusal_or_pseudo_refusal", "fine")]
    out = head.apply([make_record(r["record"]["messages"][-2]["content"], r["record"]["messages"][-1]["content"],
                                  Provenance(generator="test")) for r in rows])
    rejected = {r["reason"]: 0 for r in rows}
    for row, record in zip(rows, out):
        rejected[row["reason"]] += not record.verdicts[-1].keep
    assert rejected["fine"] == 0 and rejected["refusal_or_pseudo_refusal"] >= 4, rejected


def test_scores_every_record_and_rejects_from_the_threshold():
    head = Refusal(Refusal.Params(threshold=0.1, rules=False), FilterContext("refusal"))
    text = ("I'm sorry for your loss, but as a chatbot designed to assist with sports and games, I don't have the "
            "capability to book tickets.")
    records = head.apply([make_record("Can you help me with my team?", text, Provenance(generator="test")),
                          make_record("How do vaccines work?", "Vaccines train the immune system to recognise a germ.",
                                      Provenance(generator="test"))])
    assert [r.verdicts[-1].keep for r in records] == [False, True]
    assert records[0].verdicts[-1].reason == "refusal or pseudo-refusal"
    assert records[0].scores["refusal"] >= 0.1 > records[1].scores["refusal"]


def test_sentences_keep_the_whole_text_first():
    text = "Sure. As an AI designed to help, I cannot book flights for you. Try the airline's site instead."
    assert sentences(text) == [text, "As an AI designed to help, I cannot book flights for you.",
                               "Try the airline's site instead."]
