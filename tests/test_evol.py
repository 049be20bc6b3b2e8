"""Evol-Instruct: elimination rules on hand-made and real model output, the pool, the chain metadata."""
from collections import Counter

import pytest

from datagen.backends.base import Backend, Completion
from datagen.config import ConfigError, validate_config
from datagen.generators.base import GeneratorContext
from datagen.generators.evol import (
    EvolInstruct,
    EvolParams,
    copies_meta_prompt,
    evolution_problem,
    parse_equal,
    response_problem,
)

REASONS = {"empty evolution", "truncated evolution", "copies meta-prompt words", "no information gain (unchanged)",
           "no information gain (judged equal)", "response is a short apology",
           "response is only punctuation and stop words"}


@pytest.mark.parametrize("evolved, expected", [
    ("#Rewritten Prompt#: Explain photosynthesis in 3 steps.", "copies meta-prompt words"),
    ("Rewrite the given prompt so that it mentions oxygen.", "copies meta-prompt words"),
    ("New prompt: Explain photosynthesis for a 10-year-old.", "copies meta-prompt words"),
    ("Explain photosynthesis.", "no information gain (unchanged)"),
    ("explain   PHOTOSYNTHESIS!", "no information gain (unchanged)"),
    ("   ", "empty evolution"),
    ("Explain how photosynthesis differs in C4 plants, in under 100 words.", None),
])
def test_evolution_rules(evolved, expected):
    assert evolution_problem("Explain photosynthesis.", evolved, "stop") == expected


def test_truncated_evolution_and_meta_words():
    assert evolution_problem("a", "Explain photosynthesis in C4 plants and", "length") == "truncated evolution"
    assert copies_meta_prompt("As the #Given Prompt# says") and not copies_meta_prompt("Prompt engineering tips")


@pytest.mark.parametrize("answer, expected", [
    ("Equal", True), ("Not Equal", False), ("not equal.", False), ("They are the same.", True),
    ("EQUAL", True), ("Different", False), ("I think", None), ("", None),
])
def test_parse_equal(answer, expected):
    assert parse_equal(answer) is expected


def test_response_rules():
    assert response_problem("I'm sorry, but I cannot help with that.") == "response is a short apology"
    long_sorry = "Sorry for the wait. " + "Here is a detailed plan with many concrete steps to follow. " * 10
    assert response_problem(long_sorry) is None  # 80 words or more: an answer that happens to apologise
    assert response_problem("... !!! ?") == "response is only punctuation and stop words"
    assert response_problem("It is what it is, and so on.") == "response is only punctuation and stop words"
    assert response_problem("Photosynthesis turns light into sugar.") is None


class ScriptedBackend(Backend):
    """Answers evolution, judge and response prompts from scripts, to pin down the pool behaviour."""

    name = "scripted"

    def __init__(self, evolutions, verdicts=("Not Equal",), responses=("Plants turn light into sugar.",)):
        super().__init__("scripted")
        self.scripts = {"evolve": list(evolutions), "judge": list(verdicts), "answer": list(responses)}

    def render_chat(self, messages, add_generation_prompt=True):
        return "\n".join(m["content"] for m in messages)

    def _complete(self, prompts, params):
        out = []
        for prompt in prompts:
            kind = "judge" if "Task one:" in prompt else "evolve" if "Original" in prompt else "answer"
            script = self.scripts[kind]
            out.append([Completion(script.pop(0) if len(script) > 1 else script[0])])
        return out


def evol(backend, items, **params):
    ctx = GeneratorContext(name="evol", count=len(items), batch_size=len(items), seed=1, _backend=backend)
    gen = EvolInstruct(EvolParams(instructions=items, **params), ctx)
    return gen, gen.run_batch(gen.work_items(), 0)


def test_failed_evolution_goes_back_to_the_pool():
    backend = ScriptedBackend(["#Rewritten Prompt#: nope", "Explain photosynthesis in C4 plants.",
                               "Explain photosynthesis in C4 plants, with one diagram-free example."],
                              verdicts=["Not Equal", "Equal"])
    gen, records = evol(backend, ["Explain photosynthesis."], rounds=3)
    # round 1 leaked meta words, round 2 survived, round 3 was judged equal: one record, two discards
    assert gen.discarded == Counter({"copies meta-prompt words": 1, "no information gain (judged equal)": 1})
    [record] = records
    assert record.instruction == "Explain photosynthesis in C4 plants."
    assert record.metadata["round"] == 2 and record.metadata["parent"] == "Explain photosynthesis."
    assert record.metadata["ancestor"] == "Explain photosynthesis." and len(record.metadata["operations"]) == 1
    assert record.provenance.sources == ["inline:0"] and record.provenance.generator == "evol_instruct"


def test_an_equal_check_that_says_neither_is_kept_and_counted():
    backend = ScriptedBackend(["Explain photosynthesis in C4 plants."], verdicts=["Perhaps."])
    gen, records = evol(backend, ["Explain photosynthesis."], rounds=1)
    assert len(records) == 1 and not gen.discarded
    assert gen.flagged == Counter({"equal check said neither equal nor not equal": 1})


def test_chain_grows_and_bad_responses_are_counted():
    backend = ScriptedBackend(["Explain photosynthesis in C4 plants.", "Compare C4 and CAM photosynthesis."],
                              responses=["C4 plants fix carbon twice.", "Sorry, I can't."])
    gen, records = evol(backend, ["Explain photosynthesis."], rounds=2, operations=["deepen"])
    assert gen.discarded == Counter({"response is a short apology": 1}) and len(records) == 1
    backend = ScriptedBackend(["Explain photosynthesis in C4 plants.", "Compare C4 and CAM photosynthesis."])
    _, records = evol(backend, ["Explain photosynthesis."], rounds=2, operations=["deepen"])
    assert [r.metadata["round"] for r in records] == [1, 2]
    assert records[1].metadata["parent"] == records[0].instruction
    assert records[1].metadata["operations"] == ["deepen", "deepen"]


def test_bad_params():
    with pytest.raises(ConfigError, match="shrink"):
        validate_config({"name": "x", "generators": [{"type": "evol_instruct", "instructions": ["a"],
                                                      "operations": ["shrink"]}]})


def test_pipeline_on_the_embedded_model(run_in):
    from datagen.run_folder import RunFolder
    from datagen.pipeline import run_pipeline

    config = validate_config({
        "name": "evol-test", "seed": 2, "backend": {"type": "llamacpp", "model": "embedded", "workers": 1},
        "generators": [{"type": "evol_instruct", "file": "seeds/instructions.txt", "count": 2, "batch_size": 2,
                        "rounds": 2, "max_tokens": 48, "response_max_tokens": 24}],
    })
    result = run_pipeline(config, quiet=True)
    folder = RunFolder(result.path)
    records = list(folder.records())
    reasons = Counter()
    for stats in folder.shard_stats():
        reasons.update(stats["discarded"])
    assert len(records) + sum(reasons.values()) == 2 * 2  # every chain, every round: a record or a counted reason
    assert set(reasons) <= REASONS and records
    for record in records:
        meta, prov = record.metadata, record.provenance
        assert prov.sources[0].startswith("instructions.txt:") and prov.model.startswith("embedded")
        assert set(prov.sampling) == {"evolve", "judge", "response"} and prov.run == "evol-test"
        assert evolution_problem(meta["parent"], record.instruction, "stop") is None
        assert response_problem(record.response) is None and parse_equal(meta["equal_check"]) is not True
        assert meta["round"] in (1, 2) and len(meta["operations"]) <= meta["round"]
