import pytest

from datagen.backends.base import Backend, Completion
from datagen.filters.base import FilterContext
from datagen.filters.judge import JUDGE_PROMPT, Judge, parse_score, parse_tags
from datagen.records import Provenance, make_record

PROV = Provenance(generator="test")


@pytest.mark.parametrize("text,score", [
    ("The answer is correct and clear.\nScore: 8", 8), ("Rating: [[7]]", 7), ("**Score:** 6", 6),
    ("Good overall. I would give it 9/10.", 9), ("score of 4 out of 10", 4), ("Score: 7.5", 7.5),
    ("On a scale of 1 to 10... Score: 3", 3),
    ("Score: 11", None), ("Score: 0", None), ("Score: 3/5", None), ("It is a fine answer.", None), ("", None),
])
def test_parse_score(text, score):
    assert parse_score(text, 1, 10) == score


def test_parse_tags_prefers_longer_labels():
    assert parse_tags("Input quality: Good\nDifficulty: very easy\nCategory: Coding & Debugging") == {
        "input_quality": "good", "difficulty": "very easy", "task_category": "Coding & Debugging"}
    assert parse_tags("nothing useful") == {}


class Scripted(Backend):
    name = "scripted"

    def __init__(self, replies):
        super().__init__("scripted")
        self.replies, self.calls = list(replies), []

    def render_chat(self, messages, add_generation_prompt=True):
        return messages[-1]["content"]

    def _complete(self, prompts, params):
        self.calls.append(len(prompts))
        return [[Completion(self.replies.pop(0))] for _ in prompts]


def test_judge_scores_thresholds_tags_and_batches():
    replies = ["Clear and right. Score: 9", "Wrong. Score: 2", "no idea", "Fine.\nScore: 6",
               "Input quality: good\nDifficulty: easy\nCategory: Math", "Input quality: poor", "?", "?"]
    backend = Scripted(replies)
    f = Judge(Judge.Params(threshold=5, tags=True, batch_size=3), FilterContext("judge", _backend=backend))
    records = [make_record(f"What is {i} + {i}?", f"It is {2 * i}.", PROV) for i in range(4)]
    out = f.apply(records)
    assert [r.kept for r in out] == [True, False, True, True]
    assert out[0].scores == {"judge": 9, "input_quality": 4, "difficulty": 2}
    assert out[0].category == "Math" and "task_category:Math" in out[0].tags
    assert out[1].rejection().reason == "judge score below 5"
    assert "judge_unparsed" in out[2].tags and "judge" not in out[2].scores
    assert backend.calls == [3, 1, 3, 1]  # batched by batch_size, judge prompts then tag prompts


def test_unparsed_can_reject():
    f = Judge(Judge.Params(on_unparsed="reject"), FilterContext("judge", _backend=Scripted(["hmm"])))
    assert f.apply([make_record("Say hi.", "Hi!", PROV)])[0].rejection().reason == "judge output unparsed"


def test_judge_on_embedded_model_output(recorded_backend):
    """The verdicts on what a real (tiny) model writes, batched: each record's outcome is the one its own reply
    gives (a score inside the scale and the threshold decision, or 'unparsed' with that reply's tail)."""
    backend, _, replies = recorded_backend
    records = [make_record("Name a primary colour.", "Red is a primary colour.", PROV),
               make_record("What is 2 + 2?", "Paris.", PROV)]
    out = Judge(Judge.Params(max_tokens=32, threshold=6), FilterContext("judge", _backend=backend)).apply(records)
    assert len(replies) == 2 and replies[0] != replies[1]
    for record, reply in zip(out, replies):
        verdict, score = record.verdicts[-1], parse_score(reply, 1, 10)
        if score is None:
            assert verdict.keep and "judge_unparsed" in record.tags and "judge" not in record.scores
            assert verdict.details["output"] == reply[-200:]
        else:
            assert record.scores["judge"] == score and verdict.keep == (score >= 6)
    assert JUDGE_PROMPT.splitlines()[-1] == "Score: <number>"
