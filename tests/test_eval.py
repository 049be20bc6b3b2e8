"""Evaluation metrics on known inputs, the judge on real model output, and the evaluate stage end to end."""
from __future__ import annotations

import json

import pytest

from datagen.evaluate.judge import parse_score, summarize
from datagen.evaluate.rouge import rouge_l


def test_rouge_l_known_values():
    assert rouge_l("The cat sat.", "the cat sat") == 1.0
    assert rouge_l("the cat sat", "the cat sat on the mat") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert rouge_l("a b c d", "d c b a") == pytest.approx(0.25)  # longest common subsequence is one word
    assert rouge_l("dogs bark", "cats meow") == 0.0
    assert rouge_l("", "") == 1.0 and rouge_l("", "x") == 0.0


@pytest.mark.parametrize("reply, score", [
    ("85", 85), ("Score: 72", 72), ("**90**", 90), ("8/10", 80), ("I'd say 4 out of 5.", 80),
    ("The answer mentions 150 apples. Rating: 40", 40), ("Grade = 55.5", 55.5), ("100", 100),
    ("no idea", None), ("", None), ("It deserves 300 points", None), ("12/10", None),
])
def test_judge_score_parsing(reply, score):
    assert parse_score(reply) == score


def test_judge_on_real_model_output(recorded_backend):
    """The judge's reply is started with "Score:" and cut at the first line, so even the tiny embedded model answers
    with a number: every candidate gets a score, and each score is the one its own reply states."""
    from datagen.evaluate.judge import judge_scores

    backend, prompts, replies = recorded_backend
    items = [{"question": "What is 2 + 2?", "reference": "4", "candidate": c} for c in ("4", "Paris", "2 + 2 = 4")]
    scores = judge_scores(backend, items)
    assert all(p.endswith("Score:") and item["candidate"] in p for p, item in zip(prompts, items))
    assert len(replies) == 3 and all("\n" not in r for r in replies)
    assert summarize(scores) == {"scored": 3, "unparsed": 0, "mean": round(sum(scores) / 3, 2)}
    assert scores == [parse_score("Score:" + r) for r in replies]


def test_evaluate_stage_writes_a_report_for_base_and_tuned(tmp_path):
    from train_helpers import tiny_model_dir, toy_records

    from datagen.pipeline import run_stage
    from datagen.train.config import TrainParams
    from datagen.train.trainer import train_records

    tiny = tiny_model_dir(tmp_path / "tiny")
    records = toy_records(8, task_types=("echo", "other"))
    train_records(TrainParams(model=str(tiny), max_steps=2, batch_size=4, holdout_task_types=["other"]), records,
                  tmp_path / "run" / "train", log=lambda s: None)
    prompts = tmp_path / "if.jsonl"
    prompts.write_text("".join(json.dumps({"key": n, "prompt": f"Say {w} in lowercase.", "kwargs": [{}],
                                           "instruction_id_list": ["change_case:english_lowercase"]}) + "\n"
                               for n, w in enumerate(("hi", "bye"))))
    result = run_stage("evaluate", {"judge": False, "max_new_tokens": 4, "ifeval_prompts": str(prompts)},
                       tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    for label in ("base", "tuned"):
        assert metrics[label]["heldout"]["n"] == 4 and metrics[label]["heldout"]["task_types"] == ["other"]
        assert metrics[label]["ifeval"]["prompts"] == 2 and metrics[label]["stopped"]["n"] == 6
    report = (tmp_path / "run" / "eval" / "report.md").read_text()
    assert "| held-out ROUGE-L (x100) |" in report and "| IFEval prompt-level strict % |" in report
    assert (tmp_path / "run" / "eval" / "metrics.png").is_file() and result["report"].endswith("report.md")
    assert len((tmp_path / "run" / "eval" / "responses.jsonl").read_text().splitlines()) == 6
