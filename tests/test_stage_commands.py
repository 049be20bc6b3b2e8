"""The stage commands (train, eval, publish, report): options generated from each stage's Params, the run's own
block as defaults, flags as overrides."""
from __future__ import annotations

import argparse
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from run_fixture import make_run

from datagen.cli import main, stage_options, stage_parser, stage_values
from datagen.run_folder import RunFolder


class Toy(BaseModel):
    packing: bool = False
    merge: bool = True
    tags: list[str] = Field(default_factory=list, description="50% of the tags")
    style: Literal["chat", "alpaca"] | None = None
    modules: str | list[str] = "all-linear"
    backend: dict | None = None
    rate: float = 0.1


def parse(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    stage_options(parser, Toy, {"tags": ["--tag"]})
    return stage_values(parser.parse_args(list(argv)), Toy)


def test_only_the_flags_given_are_values():
    assert parse() == {}
    assert Toy.model_validate(parse("--rate", "0.5")).rate == 0.5


def test_bool_flags_set_and_clear():
    assert parse("--packing", "--no-merge") == {"packing": True, "merge": False}


def test_list_flags_take_commas_spaces_repeats_and_aliases():
    assert parse("--tags", "a,b", "c", "--tag", "d") == {"tags": ["a", "b", "c", "d"]}


def test_choices_comma_unions_and_json_blocks():
    assert parse("--style", "alpaca", "--modules", "q_proj,v_proj", "--backend", '{"type": "openai"}') == {
        "style": "alpaca", "modules": ["q_proj", "v_proj"], "backend": {"type": "openai"}}
    assert parse("--modules", "q_proj") == {"modules": "q_proj"}
    with pytest.raises(SystemExit):
        parse("--style", "neither")


@pytest.mark.parametrize("command, argv, fields", [
    ("train", ["--data", "x.jsonl", "--holdout-task-types", "qa,math", "--no-packing", "--lora-r", "8"],
     {"data", "holdout_task_types", "packing", "lora_r"}),
    ("eval", ["--model", "m.gguf", "--folder", "eval-other", "--no-ablations"], {"model", "folder", "ablations"}),
    ("publish", ["--repo-id", "me/data", "--dry-run", "--private", "--out", "hub", "--test-size", "5", "--force",
                 "--license", "mit", "--seed", "3", "--pretty-name", "P", "--export-dir", "e"],
     {"repo_id", "dry_run", "private", "out", "test_size", "force", "license", "seed", "pretty_name", "export_dir"}),
    ("report", ["--out", "page", "--samples", "3", "--tokenizer", "words"], {"out", "samples", "tokenizer"}),
])
def test_documented_flags_are_options_of_their_stage(command, argv, fields):
    parser, params = stage_parser(command)
    values = stage_values(parser.parse_args(["outputs/run", *argv]), params)
    assert set(values) == fields
    params.model_validate(values)


def test_publish_flags_become_params():
    parser, params = stage_parser("publish")
    argv = ["run", "--dry-run", "--export", "sharegpt", "--export", "alpaca", "--tag", "x", "--language", "en", "fr"]
    p = params.model_validate(stage_values(parser.parse_args(argv), params))
    assert p.dry_run and p.exports == ["sharegpt", "alpaca"] and p.tags == ["x"] and p.language == ["en", "fr"]


def test_the_runs_block_is_the_default_and_a_flag_overrides_it(tmp_path, capsys):
    run = make_run(tmp_path / "fixture")
    config = run.config()
    config["report"] = {"out": str(tmp_path / "page"), "samples": 2, "tokenizer": "words"}
    run.write_config(config)
    assert main(["report", str(run.path), "--samples", "3"]) == 0
    assert "lengths in words" in capsys.readouterr().out
    html = (tmp_path / "page" / "index.html").read_text()
    assert html.count("<tr><td><code>") == 3  # the flag won; `out` and `tokenizer` came from the run's block
    assert RunFolder(run.path).stage_result("report")["records"] == 20  # run through run_stage: marked finished
