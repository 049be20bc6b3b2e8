"""IFEval: our checkers against the official implementation's verdicts, the official file layout, scoring."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.evaluate import ifeval

DATA = Path(__file__).parent / "data" / "ifeval" / "responses.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_agrees_with_the_official_implementation_on_every_instruction():
    disagreements = []
    for row in ROWS:
        for mode in ("strict", "loose"):
            ours = ifeval.verdicts(row, row["response"], loose=mode == "loose")
            disagreements += [(row["key"], mode, i) for i, a, b in zip(row["instruction_id_list"], ours, row[mode])
                              if a != b]
    assert disagreements == []


def test_verdict_data_covers_every_type_with_passes_and_fails_and_real_model_output():
    seen: dict[str, set[bool]] = {}
    for row in ROWS:
        for i, ok in zip(row["instruction_id_list"], row["strict"] + row["loose"]):
            seen.setdefault(i, set()).add(ok)
    assert set(seen) == set(ifeval.CHECKERS) and len(seen) == 25
    assert all(v == {True, False} for v in seen.values()), {k: v for k, v in seen.items() if v != {True, False}}
    assert sum(row["source"] == "model" for row in ROWS) >= 25


def test_loads_the_official_prompt_file_as_is():
    official = Path(__file__).parents[1] / ".." / "shared" / "data" / "ifeval" / "input_data.jsonl"
    if not official.is_file():
        pytest.skip("shared data folder not present")
    prompts = ifeval.load_prompts(official)
    assert len(prompts) == 541 and sum(len(p["instruction_id_list"]) for p in prompts) == 834
    assert {i for p in prompts for i in p["instruction_id_list"]} == set(ifeval.CHECKERS)


def test_project_prompt_set_is_official_and_covers_all_types():
    prompts = ifeval.load_prompts("seeds/ifeval_prompts.jsonl")
    assert {i for p in prompts for i in p["instruction_id_list"]} == set(ifeval.CHECKERS)


@pytest.mark.parametrize("line, message", [
    ({"key": 1, "prompt": "x", "instruction_id_list": ["rhymes:end"], "kwargs": [{}]},
     "unknown instruction id 'rhymes:end'"),
    ({"key": 1, "prompt": "x", "instructions": [{"type": "no_commas"}]}, "missing instruction_id_list, kwargs"),
    ({"key": 1, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": []}, "same length"),
    ({"key": 1, "prompt": "x", "instruction_id_list": ["length_constraints:number_words"],
      "kwargs": [{"num_words": 3, "relation": "at most"}]}, "relation 'at most'"),
    ({"key": 1, "prompt": "x", "instruction_id_list": ["length_constraints:number_words"],
      "kwargs": [{"num_words": 3}]}, r"kwargs \['num_words'\] do not match"),
])
def test_bad_prompt_file_names_the_line_and_the_problem(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    good = {"key": 0, "prompt": "y", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=f"p.jsonl: line 2: .*{message}"):
        ifeval.load_prompts(path)


def test_official_null_kwargs_are_ignored(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"key": 5, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"],
                                "kwargs": [{"num_words": None}]}) + "\n")
    assert ifeval.load_prompts(path)[0]["kwargs"] == [{}]


def test_scores_prompt_and_instruction_level_strict_and_loose():
    prompts = [{"prompt": "p1", "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
                "kwargs": [{}, {}]},
               {"prompt": "p2", "instruction_id_list": ["change_case:english_capital"], "kwargs": [{}]}]
    result = ifeval.score(prompts, ["no commas, sir, this is all written in lowercase english.",
                                    "Intro:\nTHIS ANSWER IS WRITTEN IN CAPITAL LETTERS ONLY."])
    assert (result["prompt_strict"], result["instruction_strict"]) == (0.0, pytest.approx(1 / 3, abs=1e-4))
    assert (result["prompt_loose"], result["instruction_loose"]) == (0.5, pytest.approx(2 / 3, abs=1e-4))
    assert result["instructions"] == 3 and result["per_type_strict"]["change_case:english_capital"] == "0/1"


def test_an_empty_response_follows_nothing_even_where_the_check_would_pass():
    assert ifeval.CHECKERS["punctuation:no_comma"]("  ")
    assert not ifeval.follows("  ", "punctuation:no_comma", {}) and not ifeval.follows("", "punctuation:no_comma", {},
                                                                                      loose=True)
