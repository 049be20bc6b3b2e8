"""Import of existing instruction datasets: every format, round trips through datagen.formats, caps, errors."""
import json
from collections import Counter
from pathlib import Path

import pytest

from datagen import formats
from datagen.config import PROJECT_ROOT, resolve_path, validate_config
from datagen.generators.base import GeneratorContext
from datagen.generators.importer import Importer
from datagen.pipeline import run_pipeline

SAMPLES = PROJECT_ROOT / "seeds" / "import"


def make(sources, count=100, seed=0, **params):
    ctx = GeneratorContext(name="import", count=count, batch_size=4, seed=seed,
                           resolve_path=lambda value, key: resolve_path(value, None, key))
    return Importer(Importer.Params.model_validate({"sources": sources, **params}), ctx)


def imported(sources, **kwargs):
    gen = make(sources, **kwargs)
    return gen, [r for batch in gen.batches(0, []) for r in batch]


def rows_of(name):
    path = SAMPLES / name
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("name,fmt", [("alpaca.json", "alpaca"), ("sharegpt.jsonl", "sharegpt"),
                                      ("messages.jsonl", "messages"), ("prompt_completion.jsonl", None)])
def test_native_formats_round_trip(name, fmt):
    rows = rows_of(name)
    _, out = imported([{"path": str(SAMPLES / name)}])
    assert len(out) == len(rows)
    by_source = {int(r.provenance.sources[0].split("/")[1]): r for r in out}
    for i, row in enumerate(rows):
        record = by_source[i]
        assert record.messages == formats.parse(row).messages
        if fmt:
            assert formats.convert(record, fmt) == row
        else:  # prompt/completion rows come as plain strings or as message lists
            plain = isinstance(row["prompt"], str)
            assert formats.to_prompt_completion(record, conversational=not plain) == row


def test_dolly_rows_keep_context_and_category():
    rows = rows_of("dolly.jsonl")
    _, out = imported([{"path": str(SAMPLES / "dolly.jsonl")}])  # detected from the fields
    by_index = {int(r.provenance.sources[0].split("/")[1]): r for r in out}
    for i, row in enumerate(rows):
        record = by_index[i]
        assert formats.to_alpaca(record) == {"instruction": row["instruction"], "input": row["context"],
                                             "output": row["response"]}
        assert record.category == row["category"] and record.task_type == row["category"]
    assert by_index[0].instruction.endswith(rows[0]["context"])


def test_lima_and_aya():
    _, out = imported([{"path": str(SAMPLES / "lima.jsonl")}, {"path": str(SAMPLES / "aya.jsonl"),
                                                                 "task_type": "multilingual"}])
    lima = [r for r in out if "source:lima" in r.tags]
    assert sorted(len(r.messages) for r in lima) == [2, 4]
    assert all([m.role for m in r.messages] == ["user", "assistant"] * (len(r.messages) // 2) for r in lima)
    aya = [r for r in out if "source:aya" in r.tags]
    assert {t for r in aya for t in r.tags if t.startswith("lang:")} == {"lang:French", "lang:Spanish"}
    assert all(r.task_type == "multilingual" for r in aya)


def test_natural_instructions_task_file():
    task = json.loads((SAMPLES / "task9001_review_sentiment.json").read_text())
    _, out = imported([{"path": str(SAMPLES / "task9001_review_sentiment.json"), "positive_examples": 1}])
    assert len(out) == len(task["Instances"])
    by_id = {r.provenance.sources[0].split("/")[1]: r for r in out}
    for inst in task["Instances"]:
        record = by_id[inst["id"]]
        assert record.instruction.startswith(task["Definition"][0])
        assert record.instruction.endswith(inst["input"]) and record.response == inst["output"][0]
        assert task["Positive Examples"][0]["input"] in record.instruction
        assert task["Positive Examples"][1]["input"] not in record.instruction
        assert record.task_type == "sentiment_analysis"
    _, zero_shot = imported([{"path": str(SAMPLES / "task9001_review_sentiment.json")}])
    assert not any("Example 1:" in r.instruction for r in zero_shot)


def test_parquet_through_datasets(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"instruction": f"Count to {n}.", "input": "", "output": " ".join(map(str, range(1, n + 1)))}
            for n in range(2, 7)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    _, out = imported([{"path": str(tmp_path / "rows.parquet"), "format": "alpaca"}])
    assert sorted(formats.to_alpaca(r)["output"] for r in out) == sorted(r["output"] for r in rows)


def test_caps_and_proportional_mixing():
    every = [{"path": str(SAMPLES / n)} for n in ("alpaca.json", "sharegpt.jsonl", "dolly.jsonl")]
    _, capped = imported(every, cap=2)
    assert len(capped) == 6
    assert all(n == 2 for n in Counter(t for r in capped for t in r.tags if t.startswith("source:")).values())
    # 5 + 3 + 4 rows mixed into 6 records: examples-proportional shares 2.5 / 1.5 / 2 -> 3 / 1 / 2
    _, mixed = imported(every, count=6, seed=1)
    shares = Counter(t for r in mixed for t in r.tags if t.startswith("source:"))
    assert shares == {"source:alpaca": 3, "source:sharegpt": 1, "source:dolly": 2}
    _, again = imported(every, count=6, seed=1)
    assert [r.id for r in mixed] == [r.id for r in again]
    _, one = imported([{**every[0], "cap": 1}, every[1]], cap=3000)
    assert Counter(t for r in one for t in r.tags if t.startswith("source:")) == {"source:alpaca": 1,
                                                                                 "source:sharegpt": 3}


def test_bad_rows_name_the_file_and_row(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "Hi", "output": "Hello"}) + "\n"
                   + json.dumps({"instruction": "Say nothing.", "output": "  "}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl row 1: cannot import as auto: .*empty"):
        imported([{"path": str(bad)}])
    gen, out = imported([{"path": str(bad)}], on_error="discard")
    assert len(out) == 1 and gen.discarded == {"bad: unparseable row": 1}
    unknown = tmp_path / "odd.jsonl"
    unknown.write_text(json.dumps({"question": "?", "answer": "!"}) + "\n")
    with pytest.raises(ValueError, match=r"odd\.jsonl row 0: .*cannot tell the format"):
        imported([{"path": str(unknown)}])


def test_on_error_discard_counts_broken_json_lines(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"instruction": "Hi", "output": "Hello"}) + "\n{\"instruction\": \"cut off\n"
                      + json.dumps({"instruction": "Bye", "output": "Goodbye"}) + "\n")
    with pytest.raises(ValueError, match=r"broken\.jsonl: line 2: not valid JSON"):
        imported([{"path": str(broken)}])
    gen, out = imported([{"path": str(broken)}], on_error="discard")
    assert sorted(r.instruction for r in out) == ["Bye", "Hi"]
    assert gen.discarded == {"broken: line not valid JSON": 1}


def test_a_source_smaller_than_count_reports_the_shortfall(run_in, capsys):
    from datagen.cli import main

    (run_in / "p.yaml").write_text(json.dumps({
        "name": "short",
        "generators": [{"type": "import", "count": 9, "sources": [{"path": str(SAMPLES / "dolly.jsonl")}]}],
        "filters": []}))
    assert main(["run", str(run_in / "p.yaml"), "--quiet", "--no-stages"]) == 0
    stats = json.loads((run_in / "outputs/short/stats.json").read_text())["generators"]["import"]
    assert stats["requested"] == 9 and stats["generated"] == 4 and stats["shortfall"] == 5
    assert "generator import: 5 short of count 9 (4 generated)" in capsys.readouterr().out


def test_end_to_end_import_pipeline(run_in):
    config = validate_config({
        "name": "import-e2e", "seed": 2,
        "generators": [{"type": "import", "count": 12, "batch_size": 5, "cap": 2,
                        "sources": [{"path": str(p)} for p in sorted(SAMPLES.glob("*.json*"))]}],
        "filters": [{"type": "length", "min_response_words": 2}],
    })
    result = run_pipeline(config, quiet=True)
    stats = result.stats["generators"]["import"]
    assert stats["generated"] == 12 and stats["kept"] + stats["rejected"] == 12
    assert stats["requested"] == 12 and stats["shortfall"] == 0
    lines = [json.loads(line) for f in sorted((Path(result.path) / "records").glob("*.jsonl")) for line in open(f)]
    assert len(lines) == stats["kept"] and all(r["provenance"]["generator"] == "import" for r in lines)


def test_config_errors_name_the_key():
    from datagen.config import ConfigError

    base = {"name": "x", "generators": [{"type": "import", "sources": [{"path": "a.json", "format": "csv"}]}]}
    with pytest.raises(ConfigError, match=r"generators\.0\.sources\.0\.format: .*unknown format 'csv'"):
        validate_config(base)
    base["generators"][0]["sources"] = [{"path": "a.json", "hub": "databricks/databricks-dolly-15k"}]
    with pytest.raises(ConfigError, match="exactly one of `path`"):
        validate_config(base)


def test_self_instruct_seed_tasks_give_one_record_per_instance_and_keep_the_classification_flag(tmp_path):
    seeds = PROJECT_ROOT / "seeds" / "self_instruct_seeds.jsonl"
    tasks = [json.loads(line) for line in seeds.read_text().splitlines() if line.strip()]
    multi = tmp_path / "seed_tasks.jsonl"  # the published layout allows several instances per task
    multi.write_text(json.dumps({"id": "t1", "instruction": "Add the numbers.", "is_classification": False,
                                 "instances": [{"input": "1 2", "output": "3"}, {"input": "", "output": "0"}]}) + "\n")
    _, out = imported([{"path": str(seeds)}, {"path": str(multi)}], count=1000, cap=None)
    assert len(out) == sum(len(t["instances"]) for t in tasks) + 2
    flags = Counter(r.metadata["is_classification"] for r in out if "source:self_instruct_seeds" in r.tags)
    assert flags[True] == sum(len(t["instances"]) for t in tasks if t["is_classification"]) > 0 and flags[False] > 0
    pair = sorted((r for r in out if "source:seed_tasks" in r.tags), key=lambda r: r.provenance.sources[0])
    assert [formats.to_alpaca(r) for r in pair] == [
        {"instruction": "Add the numbers.", "input": "1 2", "output": "3"},
        {"instruction": "Add the numbers.", "input": "", "output": "0"}]
    assert pair[0].provenance.generator_params["format"] == "self_instruct"


def test_seed_task_instance_without_output_names_the_row(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"instruction": "A", "instances": [{"input": "x", "output": "y"}]}) + "\n"
                    + json.dumps({"instruction": "B", "instances": [{"input": "x"}]}) + "\n")
    with pytest.raises(ValueError, match=r"seeds\.jsonl: row 2: every Self-Instruct instance needs an `output`"):
        imported([{"path": str(path)}])


@pytest.mark.parametrize("answer_key", ["response", "completion"])
def test_prompt_response_and_prompt_completion_rows(tmp_path, answer_key):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Question {i}?", answer_key: f"Answer {i}."}) + "\n"
                            for i in range(3)))
    _, out = imported([{"path": str(path)}])
    assert sorted((r.messages[0].content, r.messages[1].content) for r in out) == [
        (f"Question {i}?", f"Answer {i}.") for i in range(3)]
    assert {r.messages[1].role for r in out} == {"assistant"}


def test_answer_generator_takes_prompt_as_instruction(tmp_path):
    from datagen.generators.answer import Answer

    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "Name a fruit.", "task_type": "qa"}) + "\n"
                    + json.dumps({"instruction": "Name a tree."}) + "\n" + json.dumps({"question": "?"}) + "\n")
    ctx = GeneratorContext(name="answer", count=2, batch_size=2, seed=0, resolve_path=lambda value, key: Path(value))
    gen = Answer(Answer.Params(file=str(path)), ctx)
    with pytest.raises(ValueError, match=r"prompts\.jsonl: line 3: .*'instruction' \(or 'prompt'\)"):
        gen.work_items()
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    gen = Answer(Answer.Params(file=str(path)), ctx)
    assert [text for _, text in gen.work_items()] == ["Name a fruit.", "Name a tree."]
    assert gen._task_types == {"prompts.jsonl:1": "qa", "prompts.jsonl:2": None}
