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


def test_held_out_pseudo_refusals_outscore_every_good_answer(head):
    answer = {r["reason"]: [] for r in ROWS}
    for r in ROWS:
        if r["split"] == "held_out" or r["reason"] == "fine":
            answer[r["reason"]].append(r["record"]["messages"][-1]["content"])
    refusals, fine = head.probabilities(answer["refusal_or_pseudo_refusal"]), head.probabilities(answer["fine"])
    assert refusals and fine and min(refusals) > max(fine)


def test_scores_every_record_and_rejects_from_the_threshold():
    head = Refusal(Refusal.Params(threshold=0.1), FilterContext("refusal"))
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
