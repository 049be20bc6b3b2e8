import hashlib
import json
import random
import re
import sys
import threading
from pathlib import Path

import pytest

from datagen.backends.base import Backend, Completion, SamplingParams
from datagen.config import validate_config
from datagen.generators.helpers import self_instruct_text as si
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline
from datagen.registry import BACKENDS
from datagen.rouge import RougePool, rouge_l, rouge_l_reference, tokenize

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds" / "self_instruct_seeds.jsonl"


@pytest.fixture(scope="module")
def seeds():
    return si.load_seed_tasks(SEEDS)


@pytest.fixture(scope="module")
def model_items(embedded_backend, seeds):
    """One real bootstrap prompt through the embedded model, parsed."""
    listed = [s.instruction for s in random.Random(5).sample(seeds, 8)]
    params = SamplingParams(temperature=0.7, top_p=0.5, presence_penalty=2.0, max_tokens=120,
                            stop=("\n\n", "\n16", "16.", "16 ."), seed=21)
    choice = embedded_backend.complete([si.bootstrap_prompt(listed)], params)[0][0]
    items, cut = si.parse_numbered(choice.text, choice.finish_reason == "length")
    return choice, items, cut, listed


# -- seeds ---------------------------------------------------------------------------------------

def test_project_seeds_cover_many_kinds(seeds):
    assert len(seeds) >= 120
    kinds = {s.task_type for s in seeds}
    assert None not in kinds and len(kinds) >= 20
    assert len({s.id for s in seeds}) == len(seeds)
    assert len({s.instruction for s in seeds}) == len(seeds)
    assert any(s.is_classification for s in seeds) and all(s.instances for s in seeds)


def test_reference_format_loads_unchanged(tmp_path):
    rows = [
        {"id": "seed_task_0", "name": "umbrella_advice", "instruction": "Should I take an umbrella today?",
         "instances": [{"input": "Forecast: 80% chance of rain.", "output": "Yes, take one."}],
         "is_classification": False},
        {"id": "seed_task_1", "name": "fruit_or_veg", "instruction": "Is this a fruit or a vegetable?",
         "instances": [{"input": "Tomato", "output": "Fruit"}], "is_classification": True},
    ]
    path = tmp_path / "ref.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks = si.load_seed_tasks(path)
    assert [(t.id, t.name, t.instruction, t.instances, t.is_classification, t.task_type) for t in tasks] == [
        (r["id"], r["name"], r["instruction"], r["instances"], r["is_classification"], None) for r in rows]


def test_bad_seed_row_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "Fine task here please"}\n{"name": "no instruction"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: line 2: .*instruction"):
        si.load_seed_tasks(path)


# -- parser and filters on real model output -----------------------------------------------------

def test_parser_on_real_output(model_items):
    choice, items, cut, listed = model_items
    assert len(items) >= 2, choice.text
    for item in items:
        assert item == item.strip() and "\n" not in item
        assert not item[:3].rstrip(". ").isdigit(), item  # the numbering is gone
        assert item in " ".join(choice.text.split())
    # the same text read as cut off loses exactly its last item
    shorter, dropped = si.parse_numbered(choice.text, truncated=True)
    assert dropped == 1 and shorter == si.parse_numbered(choice.text, False)[0][:-1]


def test_filters_on_real_output(model_items):
    _, items, _, listed = model_items
    for item in items:
        problem = si.instruction_problem(item)
        words = len(item.split())
        assert (problem in ("too few words", "too many words")) == (not 4 <= words <= 150)
        if problem is None:
            assert si.instruction_problem(item + " Then plot the results.") == "blacklisted word"
            assert si.instruction_problem("- " + item) == "starts with punctuation"
            assert si.instruction_problem("\u00c9" + item) == "starts with non-ascii"
    # the listed prompt instructions are near-copies for the ROUGE filter, the model's items judged in order
    pool = RougePool(listed)
    verdicts = pool.admit(items + listed[:2])
    assert [keep for keep, _, _ in verdicts[-2:]] == [False, False]
    for (keep, best, _), item in zip(verdicts, items):
        ref = max(rouge_l_reference(item, other) for other in listed)
        assert keep == (best <= 0.7) and best >= ref


def test_rouge_equals_pure_python_lcs_on_real_output(model_items, seeds):
    _, items, _, listed = model_items
    texts = items + listed + [s.instruction for s in seeds[:40]]
    for a in items:
        for b in texts:
            assert rouge_l(a, b) == pytest.approx(rouge_l_reference(a, b), abs=1e-12)
    # the pool's decisions equal a reference-style loop, candidate by candidate
    pool, kept = RougePool(listed), list(listed)
    for (keep, best, _), text in zip(pool.admit(texts), texts):
        ref = max((rouge_l_reference(text, k) for k in kept), default=0.0)
        assert (keep, best) == (ref <= 0.7, ref)
        if keep:
            kept.append(text)


# -- hand-made edge cases ------------------------------------------------------------------------

def test_tokenizer_matches_rouge_score_rules():
    assert tokenize("Don't STOP-me now, 2 times!") == ["don", "t", "stop", "me", "now", "2", "times"]
    assert rouge_l("", "anything here") == 0.0 == rouge_l_reference("...", "anything")


@pytest.mark.parametrize("text,reason", [
    ("Name three rivers", "too few words"),
    ("Name three long rivers", None),
    (" ".join(["word"] * 150), None),
    (" ".join(["word"] * 151), "too many words"),
    ("Describe the image of a cat", "blacklisted word"),
    ("Look at these Maps and find the city", "blacklisted word"),
    ("Tell me how to go to the station", "blacklisted word"),
    ("Update my profile with a short bio", None),  # 'file' only as a whole word
    ("Write a program that sorts numbers", "starts with 'write a program'"),
    ('"Quote" this sentence for me please', "starts with punctuation"),
    ("¿Qué hora es ahora mismo?", "starts with non-ascii"),
])
def test_instruction_rules(text, reason):
    assert si.instruction_problem(text) == reason


def test_numbered_list_variants():
    text = " Name a fruit that is red.\n10 . List two oceans please now.\n11. Explain how rain forms.\n12."
    assert si.parse_numbered(text, False) == (
        ["Name a fruit that is red.", "List two oceans please now.", "Explain how rain forms."], 0)


def test_instance_parsing_both_orders():
    text = " Paris is lovely\nOutput: Positive\nExample 2\nInput: (none)\nOutput: Neutral\n\nTask: next"
    assert si.parse_instances(text, classification=False) == (
        [{"input": "Paris is lovely", "output": "Positive"}, {"input": "", "output": "Neutral"}], {})
    text = " Fish\nInput: Salmon\n\nClass label: Bird\nInput: Robin\nClass label: Mammal"
    assert si.parse_instances(text, classification=True) == (
        [{"input": "Salmon", "output": "Fish"}, {"input": "Robin", "output": "Bird"}],
        {"instance block without a class label or input": 1})


def test_instance_output_stops_at_the_next_block_as_in_the_reference():
    text = (" 3 + 4\nOutput: 7\nOutput 2: 8\nInput: 5 + 5\nOutput: 10\nExample 2\nInput: 2 + 2\n"
            "Output: 4 Input: 1 + 1\nExample 3\nInput: 9 - 1\nExample 4\nInput: 6 / 2\nOutput: 3")
    instances, unused = si.parse_instances(text, classification=False, max_instances=1, truncated=True)
    assert instances == [{"input": "3 + 4", "output": "7"}]
    assert unused == {"instance cut off by max_tokens": 1, "instance block without an output": 1,
                      "beyond max_instances": 1}
    assert si.parse_instances(text, classification=False)[0][1] == {"input": "2 + 2", "output": "4"}


def test_instance_prompt_shows_each_demo_with_several_instances():
    demo = si.SeedTask("d", "Sort the words.", [{"input": f"b a {i}", "output": f"{i} a b"} for i in range(4)])
    prompt = si.instance_prompt("Reverse the list.", [demo], False, most=3)
    assert prompt.count("Input: b a") == 3 and "Example 3\nInput: b a 2\nOutput: 2 a b\n" in prompt
    assert "b a 3" not in prompt and prompt.endswith("Task: Reverse the list.\nExample 1\nInput:")
    labelled = si.instance_prompt("Is it spam?", [demo], True, most=2)
    assert "Class label: 0 a b\nInput: b a 0\nClass label: 1 a b\nInput: b a 1\n\nTask: Is it spam?" in labelled


def test_instance_demos_prefer_seed_tasks_with_several_instances(tmp_path):
    """The shipped seeds give some tasks of each kind several instances, and those are the ones shown."""
    BACKENDS.register("scripted", ScriptedBackend)
    result = run_pipeline(_config(tmp_path, {"type": "scripted", "model": "scripted"}, count=8), quiet=True)
    by_id = {s.id: s for s in si.load_seed_tasks(SEEDS)}
    shown = {d for r in RunFolder(result.path).records() for d in r.metadata["instance_demos"]}
    assert shown and all(len(by_id[d].instances) > 1 for d in shown)


def test_model_writes_more_instances_after_demos_with_several(embedded_backend, seeds):
    """Shown one instance per demo task, the model writes one instance per task; shown two, it mostly writes two
    (the reference's demos show several; it made 82K instances for 52K tasks). Greedy, as instance generation is."""
    several = [s for s in seeds if not s.is_classification and len(s.instances) > 1]
    tasks = ["Give an antonym for the word.", "Convert the temperature from Fahrenheit to Celsius.",
             "Translate the greeting into French.", "Turn the sentence into a question."]
    params = SamplingParams(temperature=0.0, presence_penalty=1.5, max_tokens=96, stop=("\nTask:",))
    written = {}
    for shown in (1, 2):
        prompts = [si.instance_prompt(t, random.Random(pair).sample(several, 2), False, most=shown)
                   for pair in (0, 1) for t in tasks]
        replies = [c[0] for c in embedded_backend.complete(prompts, params)]
        written[shown] = sum(len(si.parse_instances(c.text, False, 5, c.finish_reason == "length")[0])
                             for c in replies)
    assert written[2] >= written[1] + 4, written


def test_instance_parser_on_real_multi_block_output(embedded_backend, seeds):
    """The small model writes several Input/Output pairs or repeated Output lines in one example."""
    demos = random.Random(2).sample([s for s in seeds if not s.is_classification and s.instances], 2)
    prompt = si.instance_prompt("Give a synonym for the given word.", demos, False)
    # the first sample (by seed) with several Output lines in a finished first example: what this test is about. Which
    # seed gives one depends on the llama.cpp build, so several are tried.
    for seed in range(1, 13):
        choice = embedded_backend.complete([prompt], SamplingParams(temperature=0.7, max_tokens=150,
                                                                    stop=("\nTask:",), seed=seed))[0][0]
        first_block = choice.text.split("Example ")[0]
        if first_block.count("Output:") > 1 and ("Example " in choice.text or choice.finish_reason == "stop"):
            break
    else:
        raise AssertionError("no sample with several Input/Output pairs in a finished example: " + choice.text)
    instances, _ = si.parse_instances(choice.text, False, max_instances=10,
                                      truncated=choice.finish_reason == "length")
    assert instances, choice.text
    for inst in instances:
        assert inst["output"] and "Output:" not in inst["output"] and "Input:" not in inst["output"]
        assert re.search(r"Output\s*\d*\s*:\s*" + re.escape(inst["output"]), choice.text)
    # read to the end of the block, the first output would carry the model's further pairs or Output lines
    rest_of_block = first_block.split("Output:", 1)[1].strip()
    assert instances[0]["output"] in rest_of_block and len(instances[0]["output"]) < len(rest_of_block)


def test_instance_cleaning_rules():
    kept, dropped = si.clean_instances([
        {"input": "a", "output": "a"}, {"input": "b", "output": " "}, {"input": "c", "output": "Steps:"},
        {"input": "d", "output": "D"}, {"input": "d", "output": "D"}, {"input": "", "output": "free text"}])
    assert kept == [{"input": "d", "output": "D"}, {"input": "", "output": "free text"}]
    assert dropped == {"input equals output": 1, "empty output": 1, "output ends with ':'": 1,
                       "duplicate instance": 1}
    kept, dropped = si.clean_instances([{"input": "x", "output": "Yes"}, {"input": "x", "output": "No"}])
    assert kept == [] and dropped == {"conflicting outputs for one input": 2}


def test_alpaca_blocks():
    text = (" Give two colors of the sky.\n4. Input:\n<noinput>\n4. Output:\nBlue and grey.\n###\n"
            "5. Instruction: Sort the numbers.\n5. Input: 3, 1, 2\n5. Output:\n1, 2, 3\n5. Output: junk\n###\n"
            "6. Instruction: broken block\n###\n7. Instruction: Cut off here")
    tasks, bad, cut = si.parse_alpaca(text, 4, truncated=True)
    assert tasks == [{"instruction": "Give two colors of the sky.", "input": "", "output": "Blue and grey."},
                     {"instruction": "Sort the numbers.", "input": "3, 1, 2", "output": "1, 2, 3"}]
    assert (bad, cut) == (1, 1)


# -- the generator through the runner --------------------------------------------------------------

class ScriptedBackend(Backend):
    """Answers depend on the whole prompt and the seed, so a wrong pool on resume changes the output."""

    name = "scripted"

    def __init__(self, model: str = "scripted") -> None:
        super().__init__(model)

    def render_chat(self, messages, add_generation_prompt=True):
        return "\n".join(m["content"] for m in messages)

    def _complete(self, prompts, params):
        out = []
        for i, prompt in enumerate(prompts):
            rnd = random.Random(hashlib.sha256(f"{prompt}|{params.seed_for(i)}".encode()).hexdigest())
            if prompt.endswith("Is it classification?"):
                text = " Yes" if rnd.random() < 0.3 else " No"
            elif prompt.endswith(("Input:", "Class label:")):
                text = f" sample {rnd.randrange(99)}\nOutput: answer {rnd.randrange(99)}" \
                    if prompt.endswith("Input:") else f" label{rnd.randrange(3)}\nInput: case {rnd.randrange(99)}"
            else:
                words = "river cloud lamp quiet orange seven garden ticket violin harbor".split()
                text = "\n".join(f"{n}. " + " ".join(rnd.choice(words) for _ in range(rnd.randrange(2, 9)))
                                 for n in range(9, 13))[2:]
            out.append([Completion(text, "stop", 10, 10)])
        return out


def _config(tmp_path, backend, **params):
    return validate_config({
        "name": "si-test", "seed": 3, "output_dir": str(tmp_path), "backend": backend,
        "generators": [{"type": "self_instruct", "seed_file": str(SEEDS), **params}]})


def test_resume_rebuilds_the_pool_exactly(tmp_path):
    BACKENDS.register("scripted", ScriptedBackend)
    config = _config(tmp_path, {"type": "scripted", "model": "scripted"}, count=40, prompts_per_batch=2)
    first = run_pipeline(config, quiet=True)
    folder = RunFolder(first.path)
    shards = folder.finished()
    assert len(shards) >= 3
    before = [(r.id, r.metadata["pool_index"]) for r in folder.records()]
    assert len(before) == 40 and len({r.metadata["instruction"] for r in folder.records()}) > 10
    for name in shards[-2:]:  # lose the last two shards; the rerun must make them again, identically
        for kind, ext in (("records", "jsonl"), ("rejects", "jsonl"), ("shards", "json")):
            (first.path / kind / f"{name}.{ext}").unlink()
    run_pipeline(config, quiet=True)
    assert [(r.id, r.metadata["pool_index"]) for r in RunFolder(first.path).records()] == before


def test_instance_demos_are_drawn_once_per_run(tmp_path):
    """As the reference shows every task one fixed set of examples, each kind's instance prompts of the whole run
    show the same seed tasks (their shared head is then evaluated once per worker, not once per batch)."""
    BACKENDS.register("scripted", ScriptedBackend)
    result = run_pipeline(_config(tmp_path, {"type": "scripted", "model": "scripted"}, count=40,
                                  prompts_per_batch=2), quiet=True)
    records = list(RunFolder(result.path).records())
    assert len({r.provenance.batch for r in records}) >= 3
    for kind in (True, False):
        shown = {tuple(r.metadata["instance_demos"]) for r in records if r.metadata["is_classification"] is kind}
        assert len(shown) == 1, kind


class ClassifyParams(ScriptedBackend):
    """Keeps the sampling settings of the classification prompts."""

    seen: list[SamplingParams] = []

    def _complete(self, prompts, params):
        if prompts and prompts[0].endswith("Is it classification?"):
            ClassifyParams.seen.append(params)
        return super()._complete(prompts, params)


def test_classification_is_asked_greedy_for_three_tokens_ending_at_a_line_break(tmp_path):
    BACKENDS.register("scripted-classify", ClassifyParams)
    run_pipeline(_config(tmp_path, {"type": "scripted-classify", "model": "scripted"}, count=4), quiet=True)
    assert ClassifyParams.seen and all(p.temperature == 0 and p.max_tokens == 3 and set(p.stop) == {"\n", "Task"}
                                       for p in ClassifyParams.seen)


class CountingScript(ScriptedBackend):
    """Counts the list-continuation and instance-generation prompts it is sent."""

    list_prompts = instance_prompts = 0

    def _complete(self, prompts, params):
        CountingScript.instance_prompts += sum(p.endswith(("Input:", "Class label:")) for p in prompts)
        CountingScript.list_prompts += sum(not p.endswith(("Input:", "Class label:", "Is it classification?"))
                                           for p in prompts)
        return super()._complete(prompts, params)


def test_no_generation_beyond_count_and_same_records_before_the_end(tmp_path):
    BACKENDS.register("scripted-counting", CountingScript)
    backend = {"type": "scripted-counting", "model": "scripted"}
    CountingScript.instance_prompts = 0
    longer = run_pipeline(_config(tmp_path / "a", backend, count=40, prompts_per_batch=2), quiet=True)
    CountingScript.instance_prompts = 0
    result = run_pipeline(_config(tmp_path / "b", backend, count=5, prompts_per_batch=2), quiet=True)
    records = list(RunFolder(result.path).records())
    # the batches that do not reach the end are made as in the longer run, so its records start the same way
    assert [r.id for r in records] == [r.id for r in RunFolder(longer.path).records()][:5]
    discarded = json.loads((result.path / "stats.json").read_text())["generators"]["self_instruct"]["discarded"]
    assert "beyond count" not in discarded
    assert discarded["beyond count (instruction not expanded)"] > 0
    # each scripted instance prompt yields one usable instance: no instance was generated only to be dropped
    assert CountingScript.instance_prompts == 5 + discarded.get("no parsable instance", 0)


def test_a_last_batch_smaller_than_prompts_per_batch_sends_fewer_prompts(tmp_path):
    BACKENDS.register("scripted-counting", CountingScript)
    CountingScript.list_prompts = CountingScript.instance_prompts = 0
    config = _config(tmp_path, {"type": "scripted-counting", "model": "scripted"}, count=2, prompts_per_batch=5)
    result = run_pipeline(config, quiet=True)
    assert len(list(RunFolder(result.path).records())) == 2
    assert CountingScript.list_prompts == 2 and CountingScript.instance_prompts == 2


def test_alpaca_mode_makes_one_record_per_task(tmp_path):
    BACKENDS.register("scripted-alpaca", AlpacaScript)
    config = _config(tmp_path, {"type": "scripted-alpaca", "model": "scripted"}, mode="alpaca", count=5,
                     prompts_per_batch=1)
    result = run_pipeline(config, quiet=True)
    records = list(RunFolder(result.path).records())
    assert [r.metadata["instruction"] for r in records] == [
        "Name two planets that have rings.", "Sort the words by length please.", "Name the largest ocean on Earth."]
    first = records[0]
    assert first.instruction == "Name two planets that have rings." and first.response == "Saturn and Jupiter."
    assert records[1].instruction == "Sort the words by length please.\n\ncat, giraffe, ox"
    assert len(first.provenance.sources) == 3 and first.provenance.sampling["temperature"] == 1.0
    stats = json.loads((result.path / "stats.json").read_text())
    shards = [json.loads(p.read_text()) for p in sorted((result.path / "shards").iterdir())]
    assert shards[0]["discarded"] == {"blacklisted word": 1, "unparsable task block": 1, "cut off by max_tokens": 1}
    # later batches repeat the same tasks: all too similar, so the run stops after max_idle_batches (10)
    assert len(shards) == 11 and all(s["discarded"]["rouge-l > 0.7"] == 3 for s in shards[1:])
    assert stats["generators"]["self_instruct"]["generated"] == 3


class AlpacaScript(ScriptedBackend):
    def _complete(self, prompts, params):
        text = (" Name two planets that have rings.\n4. Input:\n<noinput>\n4. Output:\nSaturn and Jupiter.\n###\n"
                "5. Instruction: Sort the words by length please.\n5. Input:\ncat, giraffe, ox\n5. Output:\n"
                "ox, cat, giraffe\n###\n6. Instruction: Draw a map of your town.\n6. Input:\n<noinput>\n"
                "6. Output:\nA sketch.\n###\n7. Instruction: no fields here\n###\n"
                "8. Instruction: Name the largest ocean on Earth.\n8. Input:\n\n8. Output:\nThe Pacific.\n###\n"
                "9. Instruction: Cut off")
        return [[Completion(text, "length", 10, 10)] for _ in prompts]


def test_end_to_end_on_embedded_model(tmp_path):
    config = _config(tmp_path, {"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 2},
                     count=2, prompts_per_batch=1, max_tokens=64, instance_max_tokens=32, max_instances=1,
                     max_idle_batches=3)
    result = run_pipeline(config, quiet=True)
    records = list(RunFolder(result.path).records())
    assert len(records) == 2
    seed_ids = {s.id for s in si.load_seed_tasks(SEEDS)}
    kinds = {s.task_type for s in si.load_seed_tasks(SEEDS)} | {"self_instruct"}
    for r in records:
        prov = r.provenance
        assert prov.generator == "self_instruct" and prov.model.startswith("embedded:")
        assert prov.sampling["top_p"] == 0.5 and prov.sampling["presence_penalty"] == 2.0
        # 8 instructions a prompt: all seeds while the pool is empty, then 6 seeds and up to 2 machine ones (a pool
        # instruction whose instances were all dropped still counts)
        assert 6 <= len(prov.sources) <= 8 and set(prov.sources) <= seed_ids
        assert set(r.metadata) >= {"instruction", "input", "is_classification"} and r.task_type in kinds
        assert isinstance(r.metadata["is_classification"], bool)
        user = r.metadata["instruction"] + (f"\n\n{r.metadata['input']}" if r.metadata["input"] else "")
        assert r.instruction == user and si.instruction_problem(r.metadata["instruction"]) is None
    stats = json.loads((result.path / "stats.json").read_text())
    assert stats["generators"]["self_instruct"]["generated"] == 2


@pytest.mark.slow
def test_alpaca_parser_on_real_output(embedded_backend, seeds):
    prompt = si.alpaca_prompt(random.Random(1).sample(seeds, 3), 20)
    params = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=160, stop=("\n21.",), seed=4)
    choice = embedded_backend.complete([prompt], params)[0][0]
    tasks, bad, cut = si.parse_alpaca(choice.text, 4, choice.finish_reason == "length")
    assert tasks, choice.text
    for task in tasks:
        assert task["instruction"] and task["output"] and "Instruction:" not in task["output"]
        assert task["instruction"] in " ".join(choice.text.split())


def test_classifier_answers_yes_or_no_on_real_model(embedded_backend, seeds):
    tasks = [s.instruction for s in seeds[:3]] + ["Write a short poem about the sea."]
    answers = [si.parse_yes_no(a[0].text) for a in embedded_backend.complete(
        [si.classify_prompt(t) for t in tasks], SamplingParams(temperature=0.0, max_tokens=3))]
    assert None not in answers, answers
    assert answers[-1] is False  # the small model leans to "No"; a plain writing task must never be "Yes"


@pytest.fixture
def asked_early(monkeypatch):
    """Spies on SelfInstruct._ask: one entry per batch asked, True when it was asked early (by the batch before)."""
    from datagen.generators.self_instruct import SelfInstruct

    BACKENDS.register("scripted", ScriptedBackend)
    real, early = SelfInstruct._ask, []

    def spy(self, batch, room, asking):
        early.append(sys._getframe(1).f_code.co_name == "ask_next")
        return real(self, batch, room, asking)

    monkeypatch.setattr(SelfInstruct, "_ask", spy)
    return early


def test_next_batch_is_asked_early_without_changing_records_or_token_counts(tmp_path, monkeypatch, asked_early):
    """Batch N+1's list prompts go out while batch N expands its instructions; asking them early or in turn
    gives the same records, and each shard counts the tokens of the prompts whose answers it used."""
    from datagen.generators.self_instruct import SelfInstruct

    early, sent = asked_early, []
    complete = ScriptedBackend._complete
    monkeypatch.setattr(ScriptedBackend, "_complete",
                        lambda self, prompts, params: sent.append(len(prompts)) or complete(self, prompts, params))

    def run(folder):
        config = _config(tmp_path / folder, {"type": "scripted", "model": "scripted"}, count=30,
                         prompts_per_batch=2, max_instances=1)
        path = run_pipeline(config, quiet=True).path
        shards = [{k: s[k] for k in ("shard", "prompt_tokens", "completion_tokens")}
                  for s in RunFolder(path).shard_stats()]
        return [(r.id, r.metadata["pool_index"]) for r in RunFolder(path).records()], shards

    records, shards = run("ahead")
    assert sum(early) >= 3
    # every prompt sent is counted once, by some shard (the scripted engine counts 10 tokens a prompt)
    assert sum(s["prompt_tokens"] for s in shards) == 10 * sum(sent)
    early.clear()
    monkeypatch.setattr(SelfInstruct, "ask_ahead", False)
    assert run("in-turn") == (records, shards) and not any(early)
    assert len(records) == 30 and all(s["prompt_tokens"] > 0 for s in shards)


def test_next_batch_is_asked_early_once_a_chunk_shows_this_batch_falls_short(tmp_path, monkeypatch, asked_early):
    """Admitting 8 instructions at up to 2 instances each could fill a count of 12, so the next batch is not asked
    then; once the first chunk has made fewer, the bound is tighter and it is asked early, with the same records."""
    from datagen.generators.self_instruct import SelfInstruct

    early = asked_early

    def run(folder):
        config = _config(tmp_path / folder, {"type": "scripted", "model": "scripted"}, count=12,
                         prompts_per_batch=2, max_instances=2)
        return [(r.id, r.metadata["pool_index"]) for r in RunFolder(run_pipeline(config, quiet=True).path).records()]

    records = run("ahead")
    assert any(early)
    early.clear()
    monkeypatch.setattr(SelfInstruct, "ask_ahead", False)
    assert run("in-turn") == records and not any(early)
    assert len(records) == 12


class Watching(ScriptedBackend):
    """A scripted backend that queues calls itself and counts calls by kind under one condition, so a call can
    wait for another kind of call to come; `overlapped` notes whether the awaited call came."""

    concurrent_calls = True
    changed: threading.Condition
    overlapped = False

    @classmethod
    def came(cls, counter: str) -> None:
        """Count one call of a kind (the caller holds `changed`) and wake the waiting calls."""
        setattr(cls, counter, getattr(cls, counter) + 1)
        cls.changed.notify_all()


class QueuingScript(Watching):
    """Each classification call waits for an instance prompt sent after it came, and notes whether one came: up
    to 0.3 s, or 2 s when another classification call was waiting already (so the first one's instance prompt,
    sent when it gives up waiting, reaches the others in time)."""

    instances = waiting = 0

    def _complete(self, prompts, params):
        cls = type(self)
        with cls.changed:
            if prompts[0].endswith(("Input:", "Class label:")):
                cls.came("instances")
            elif prompts[0].endswith("Is it classification?"):
                seen, timeout = cls.instances, 2 if cls.waiting else 0.3
                cls.waiting += 1
                cls.overlapped |= cls.changed.wait_for(lambda: cls.instances > seen, timeout=timeout)
                cls.waiting -= 1
        return super()._complete(prompts, params)


def test_a_queuing_backend_expands_each_instruction_as_soon_as_it_is_classified(tmp_path):
    """On a backend that queues calls (a worker pool), an instruction's instance prompt goes out while other
    instructions of its batch are still being classified: no barrier between the two steps. The records and
    each shard's token counts are those of the batched calls made on any other backend."""
    BACKENDS.register("scripted", ScriptedBackend)
    BACKENDS.register("scripted-queuing", QueuingScript)
    QueuingScript.changed = threading.Condition()

    def run(folder, backend):
        config = _config(tmp_path / folder, {"type": backend, "model": "scripted"}, count=30, prompts_per_batch=2)
        path = run_pipeline(config, quiet=True).path
        shards = [{k: s[k] for k in ("shard", "prompt_tokens", "completion_tokens", "discarded")}
                  for s in RunFolder(path).shard_stats()]
        return [(r.id, r.metadata["pool_index"]) for r in RunFolder(path).records()], shards

    chained = run("chained", "scripted-queuing")
    assert QueuingScript.overlapped
    assert chained == run("batched", "scripted") and len(chained[0]) == 30


class StreamingScript(Watching):
    """Of two list prompts in flight, the first one in is answered once the second has come (or after half a
    second); the second waits (up to a second) for a classification call, and notes whether one came while it was
    still being written."""

    listing = classified = 0

    def _complete(self, prompts, params):
        cls = type(self)
        if prompts[0].endswith("Is it classification?"):
            with cls.changed:
                cls.came("classified")
        if prompts[0].endswith(("Is it classification?", "Input:", "Class label:")):
            return super()._complete(prompts, params)
        with cls.changed:
            cls.came("listing")
            if cls.listing == 1:
                cls.changed.wait_for(lambda: cls.listing > 1, timeout=0.5)
            else:
                seen = cls.classified
                cls.overlapped |= cls.changed.wait_for(lambda: cls.classified > seen, timeout=1)
        try:
            return super()._complete(prompts, params)
        finally:
            with cls.changed:
                cls.listing -= 1


def test_a_queuing_backend_expands_a_list_answer_while_the_next_one_is_written(tmp_path, monkeypatch):
    """Each list prompt of a batch is a call of its own on a backend that queues calls: the instructions of the
    first answer are classified while the second answer is still being written (batches asked in turn here, so
    no other batch's work is in flight). Same records as one batched call."""
    from datagen.generators.self_instruct import SelfInstruct

    monkeypatch.setattr(SelfInstruct, "ask_ahead", False)
    BACKENDS.register("scripted", ScriptedBackend)
    BACKENDS.register("scripted-streaming", StreamingScript)
    StreamingScript.changed = threading.Condition()

    def run(folder, backend):
        config = _config(tmp_path / folder, {"type": backend, "model": "scripted"}, count=12, prompts_per_batch=2)
        return [(r.id, r.metadata["pool_index"]) for r in RunFolder(run_pipeline(config, quiet=True).path).records()]

    streamed = run("streamed", "scripted-streaming")
    assert StreamingScript.overlapped
    assert streamed == run("batched", "scripted") and len(streamed) == 12
