"""Evaluation metrics on known inputs, the judge on real model output, and the evaluate stage end to end."""
from __future__ import annotations

import json

import pytest

from datagen.evaluate.llm_judge import parse_score, summarize
from datagen.rouge import rouge_l


def test_rouge_l_known_values():
    assert rouge_l("The cat sat.", "the cat sat") == 1.0
    assert rouge_l("the cat sat", "the cat sat on the mat") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert rouge_l("a b c d", "d c b a") == pytest.approx(0.25)  # longest common subsequence is one word
    assert rouge_l("dogs bark", "cats meow") == 0.0
    assert rouge_l("", "") == 0.0 and rouge_l("", "x") == 0.0


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
    from datagen.evaluate.llm_judge import judge_scores

    backend, prompts, replies = recorded_backend
    items = [{"question": "What is 2 + 2?", "reference": "4", "candidate": c} for c in ("4", "Paris", "2 + 2 = 4")]
    scores = judge_scores(backend, items)
    assert all(p.endswith("Score:") and item["candidate"] in p for p, item in zip(prompts, items))
    assert len(replies) == 3 and all("\n" not in r for r in replies)
    assert summarize(scores) == {"scored": 3, "unparsed": 0, "mean": round(sum(scores) / 3, 2)}
    assert scores == [parse_score("Score:" + r) for r in replies]


class ClosableJudge:
    """A judge engine that answers every item with one score and remembers whether it was closed."""
    name, model, end_of_turn, closed = "scripted", "judge", [], False

    def render_chat(self, messages, add_generation_prompt=True):
        return messages[-1]["content"]

    def complete(self, prompts, params):
        from datagen.backends.base import Completion

        return [[Completion(" 70")] for _ in prompts]

    def close(self):
        self.closed = True


@pytest.mark.parametrize("handed_in", [True, False])
def test_evaluate_closes_only_a_judge_it_built(tmp_path, monkeypatch, handed_in):
    """A backend handed in by the pipeline is shared with its other steps: the stage must leave it open."""
    import datagen.backends
    from datagen.evaluate import EvaluateParams, EvaluateStage
    from datagen.stages import StageContext
    from train_helpers import toy_records

    judge = ClosableJudge()
    monkeypatch.setattr(datagen.backends, "build_backend", lambda spec: judge)
    ctx = StageContext(run_dir=tmp_path, backend_factory=(lambda spec=None: judge) if handed_in else None)
    stage = EvaluateStage(EvaluateParams(), ctx)
    refs = {r.id: r for r in toy_records(2)}
    answers = {"base": [{"text": "red"}, {"text": "blue"}]}
    metrics = {"base": {}}
    stage._judge(metrics, answers, refs, list(refs.values()), n_task=0)
    assert metrics["base"]["judge"]["mean"] == 70
    assert judge.closed is not handed_in


def test_evaluate_stage_writes_a_report_for_base_and_tuned(tmp_path):
    from train_helpers import tiny_model_dir, toy_records

    from datagen.pipeline import run_stage
    from datagen.train.params import TrainParams
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


def test_wilson_interval_known_values():
    from datagen.evaluate.tasks import proportion, wilson

    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)  # the textbook 95% Wilson interval of 8/10
    assert wilson(0, 20)[0] == 0.0 and 0.15 < wilson(0, 20)[1] < 0.17
    assert proportion(0, 0)["value"] is None


@pytest.mark.parametrize("answer, choices, expected", [
    ("Positive.", ["negative", "positive"], "positive"),
    ("not_entailment because", ["entailment", "not entailment"], None),
    ("no, the passage says otherwise", ["yes", "no"], "no"),
    ("Science and technology", ["Science", "Science and technology"], "Science and technology"),
    ("nothing like it", ["no", "yes"], None),
    ("The review is positive", ["negative", "positive"], None),
])
def test_answer_choice_is_read_from_the_start_of_the_answer(answer, choices, expected):
    from datagen.evaluate.tasks import picked

    assert picked(answer, choices) == expected


def test_answers_that_continue_the_prompt_format_are_not_answers():
    from datagen.evaluate import answers_not_continues

    assert answers_not_continues("Bread needs flour, water, salt and yeast.")
    assert not answers_not_continues("in a home oven.\n\n### Instruction:\nTeach me to bake cakes")
    assert not answers_not_continues("  ")


def test_references_written_by_the_model_under_test_are_recognised():
    from datagen.evaluate import written_by

    assert written_by("embedded:SmolLM2-135M-Instruct.Q4_1", "embedded")
    assert not written_by("embedded:SmolLM2-135M-Instruct.Q4_1", "gemma3-270m")
    assert written_by("llamacpp:/models/gemma3-270m.gguf", "gemma3-270m") and not written_by(None, "embedded")


def test_small_base_experiment_trains_evaluates_and_the_tuned_model_stops(run_in):
    """The instruct-base-cpu pipeline at CI size: bundled labelled rows only, a tiny random model as the 'base',
    a few steps; the tuned model must learn to end its answers, the report must hold every row."""
    import yaml
    from train_helpers import tiny_model_dir

    from datagen.cli import main
    from datagen.config import PROJECT_ROOT, load_config
    from datagen.pipeline import run_pipeline

    tiny = tiny_model_dir(run_in / "tiny")
    spec = yaml.safe_load((PROJECT_ROOT / "pipelines" / "instruct-base-cpu.yaml").read_text())
    templates = spec["generators"][0]
    templates.update(count=16, datasets=templates["datasets"][1:])  # the bundled sets (no ../shared in CI)
    spec["generators"] = [templates]
    spec["filters"] = [f for f in spec["filters"] if f["type"] != "decontam"]
    spec["train"].update(model=str(tiny), epochs=1, max_steps=20, learning_rate=0.02, batch_size=8, max_length=128,
                         method="full", validation_share=0.0,
                         ablations={"all-tokens": {"train_on_all": True, "max_steps": 2}})
    tasks = [{**t, "limit": 8} for t in spec["evaluate"]["tasks"] if "shared" not in t["data_files"]]
    spec["evaluate"].update(ifeval_prompts="seeds/ifeval_prompts.jsonl", ifeval_limit=2, max_new_tokens=8,
                            tasks=tasks)
    (run_in / "small.yaml").write_text(yaml.safe_dump(spec))
    result = run_pipeline(load_config(run_in / "small.yaml"), quiet=True)
    train = result.stages["train"]
    assert train["prompt_style"] == "alpaca" and train["examples"]["longer_than_max_length"] == 0
    metrics = json.loads((result.path / "eval" / "metrics.json").read_text())
    assert set(metrics["tuned"]["tasks"]) == {"topic-heldout-rows", "nli-bundled"}
    assert metrics["tuned"]["trained_accuracy"]["n"] == 8 and metrics["tuned"]["heldout_cluster_accuracy"]["n"] == 8
    assert all(metrics[label]["tasks"][name]["stopped"]["n"] == 8 for label in ("base", "tuned")
               for name in metrics[label]["tasks"])
    assert "ablation:all-tokens" in metrics
    # the tuned model ends its task answers by itself (the random base cannot); 20 steps teach label + end token
    tuned_stops = sum(t["stopped"]["k"] for t in metrics["tuned"]["tasks"].values())
    base_stops = sum(t["stopped"]["k"] for t in metrics["base"]["tasks"].values())
    assert tuned_stops >= 12 and tuned_stops > base_stops, (base_stops, tuned_stops)
    report = (result.path / "eval" / "report.md").read_text()
    assert "| all-tokens | max_steps=2, train_on_all=True |" in report and "accuracy, held-out task cluster (zero-shot) %" in report
    # `datagen eval` scores any model on the run's suite and prints one headline line per metric, last
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["eval", str(result.path), "--model", str(tiny), "--folder", "eval-tiny",
                     "--no-ablations"]) == 0
    lines = printed.getvalue().strip().splitlines()
    assert sum(line.startswith("trained_tasks_accuracy:") for line in lines) == 1  # printed once, last
    assert lines[-5].startswith("trained_tasks_accuracy: base ") and lines[-5].endswith(" n 8")
    assert [line.split(":")[0] for line in lines[-5:]] == ["trained_tasks_accuracy", "heldout_cluster_accuracy",
                                                          "ended_by_itself", "answered_not_continued",
                                                          "ifeval_prompt_strict"]
    again = json.loads((result.path / "eval-tiny" / "metrics.json").read_text())
    assert again["tuned"]["tasks"]["nli-bundled"] == again["base"]["tasks"]["nli-bundled"]  # same model, same answers
