"""Template conversion: promptsource-format files, FLAN formats, inversion, mixing, errors, identity, end to end."""
import csv
import json
from pathlib import Path

import pytest

from datagen.config import PROJECT_ROOT, load_config, resolve_path, validate_config
from datagen.generators.base import GeneratorContext
from datagen.generators.identity import Identity
from datagen.generators.helpers.mixing import mixing_rates, quotas
from datagen.generators.helpers.promptsource import TemplateError, load_templates, render
from datagen.generators.templates import Templates
from datagen.pipeline import run_pipeline

SEEDS = PROJECT_ROOT / "seeds" / "datasets"
TASKS = {"sentiment": "sentiment.csv", "nli": "nli.jsonl", "topic": "topic.csv", "extractive_qa": "extractive_qa.jsonl"}

# A file in promptsource's own layout, tags and all (the shape of its templates/<dataset>/templates.yaml).
UPSTREAM = """dataset: ag_news
templates:
  2c5a4e1f-7a0b-4d7e-9a52-7d0c3b1e8f01: !Template
    answer_choices: World politics ||| Sports ||| Business ||| Science and technology
    id: 2c5a4e1f-7a0b-4d7e-9a52-7d0c3b1e8f01
    jinja: "What label best describes this news article?\\n{{text}} ||| {{answer_choices[label]\\
      \\ }}"
    metadata: !TemplateMetadata
      choices_in_prompt: false
      languages:
      - en
      metrics:
      - Accuracy
      original_task: true
    name: classify_question_first
    reference: ''
  7f3d9b2a-1c4e-4b8f-a6d5-0e2f1a9c3b77: !Template
    answer_choices:
    - World News
    - Sports
    - Business
    - Science and Technology
    answer_choices_key: null
    id: 7f3d9b2a-1c4e-4b8f-a6d5-0e2f1a9c3b77
    jinja: "{{text}} \\n\\nWhich section of a newspaper would this article likely appear\\
      \\ in? ||| \\n{{answer_choices[label] }}"
    metadata: !TemplateMetadata
      _do_eval: false
      _do_train: true
      choices_in_prompt: false
      metrics: []
      original_task: null
    name: which_section
    reference: ''
"""


def make(cls, params, count=10, seed=3, batch_size=8):
    ctx = GeneratorContext(name=cls.name, count=count, batch_size=batch_size, seed=seed,
                           resolve_path=lambda value, key: resolve_path(value, None, key))
    return cls(cls.Params.model_validate(params), ctx)


def dataset(task, **extra):
    return {"data_files": str(SEEDS / TASKS[task]), "task_type": task,
            "templates": str(SEEDS / f"{task}.templates.yaml"), **extra}


def records(generator):
    return [r for batch in generator.batches(0, []) for r in batch]


def test_upstream_promptsource_file_loads_and_renders(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text(UPSTREAM)
    loaded = load_templates(path)
    assert loaded.dataset == "ag_news" and [t.name for t in loaded.templates] == ["classify_question_first",
                                                                               "which_section"]
    first, second = loaded.templates
    assert first.metadata["languages"] == ["en"] and first.original_task is True and not first.inverted
    row = {"text": "The striker signed with a new club.", "label": 1}
    shown = render(first, row, "ag_news row 0")
    assert shown.prompt == "What label best describes this news article?\nThe striker signed with a new club."
    assert shown.target == "Sports"
    assert shown.choices == ["World politics", "Sports", "Business", "Science and technology"]
    # the older layout: answer_choices as a list
    assert render(second, {**row, "label": 3}, "ag_news row 1").target == "Science and Technology"


@pytest.mark.parametrize("task", TASKS)
def test_seed_datasets_render_with_every_template(task):
    templates = load_templates(SEEDS / f"{task}.templates.yaml").templates
    data = make(Templates, {"datasets": [dataset(task)]}).datasets()[0]
    assert len(data.rows) >= 40 and len(templates) >= 3 and any(t.inverted for t in templates)
    targets = {render(t, row, f"row {i}").target for t in templates for i, row in enumerate(data.rows)}
    assert len(targets) > 3


def test_options_block_only_where_choices_are_not_in_the_prompt():
    gen = make(Templates, {"datasets": [dataset("sentiment")], "formats": ["zs_opt"]}, count=40)
    out = records(gen)
    by_template = {r.metadata["template_id"]: r for r in out}
    assert by_template["sentiment-feeling"].instruction.endswith("\n\nOPTIONS:\n- negative\n- positive")
    assert "OPTIONS:" not in by_template["sentiment-yes-no"].instruction  # choices_in_prompt: true
    assert "OPTIONS:" not in by_template["sentiment-write"].instruction  # inverted: the answer is not a choice
    plain = make(Templates, {"datasets": [dataset("sentiment")], "formats": ["zs_noopt"]}, count=40)
    assert not any("OPTIONS:" in r.instruction for r in records(plain))


def test_few_shot_prepends_exemplars_of_the_same_template():
    gen = make(Templates, {"datasets": [dataset("topic")], "formats": ["fs_opt"], "few_shot": 2}, count=12)
    data, out = gen.datasets()[0], records(gen)
    assert len({r.metadata["template_id"] for r in out}) >= 3
    for record in out:
        meta = record.metadata
        template = next(t for t in data.templates if t.id == meta["template_id"])
        assert len(meta["exemplar_rows"]) == 2 and meta["row"] not in meta["exemplar_rows"]
        blocks = [render(template, data.rows[i], "") for i in meta["exemplar_rows"]]
        query = render(template, data.rows[meta["row"]], "")
        assert record.instruction.startswith(blocks[0].prompt) and record.response == query.target
        listed = template.choices_in_prompt or template.inverted
        options = "" if listed else "\n\nOPTIONS:\n" + "\n".join(f"- {c}" for c in query.choices)
        for block in blocks:  # each exemplar: prompt, its options, its answer
            assert f"{block.prompt}{options}\n{block.target}\n\n" in record.instruction
        assert record.instruction.endswith(f"\n\n{query.prompt}{options}")


def test_inverted_templates_swap_input_and_target_and_can_be_left_out():
    rows = {r["text"] for r in csv.DictReader(open(SEEDS / "sentiment.csv"))}
    out = records(make(Templates, {"datasets": [dataset("sentiment")], "formats": ["zs_noopt"]}, count=80))
    inverted = [r for r in out if r.metadata["inverted"]]
    assert inverted and all(r.response in rows and r.instruction.startswith("Write one sentence") for r in inverted)
    kept = records(make(Templates, {"datasets": [dataset("sentiment")], "inverted": False}, count=80))
    assert not any(r.metadata["inverted"] for r in kept)


def test_mixing_is_examples_proportional_with_a_cap():
    sizes = {"big": 100_000, "mid": 3_000, "small": 100}
    assert mixing_rates(sizes, cap=3000) == pytest.approx({"big": 3000 / 6100, "mid": 3000 / 6100,
                                                          "small": 100 / 6100})
    assert quotas(sizes, 610, cap=3000) == {"big": 300, "mid": 300, "small": 10}
    assert quotas(sizes, 61_000, cap=3000, repeat=False) == {"big": 3000, "mid": 3000, "small": 100}
    assert sum(quotas({"a": 7, "b": 5, "c": 3}, 11, cap=None).values()) == 11


def test_generator_mix_follows_the_rates_and_is_deterministic():
    params = {"datasets": [dataset("sentiment"), dataset("nli", split="train[:10]")], "cap": 20}
    out = records(make(Templates, params, count=30))
    counts = {t: sum(r.task_type == t for r in out) for t in ("sentiment", "nli")}
    assert counts == {"sentiment": 20, "nli": 10}  # sizes clipped to 20 and 10
    again = records(make(Templates, params, count=30))
    assert [r.id for r in out] == [r.id for r in again]
    other = records(make(Templates, params, count=30, seed=4))
    assert [r.id for r in out] != [r.id for r in other]
    assert all(r.provenance.sources[0].count("/") == 2 for r in out)


def _write(tmp_path, jinja, answer_choices="negative ||| positive"):
    (tmp_path / "t.yaml").write_text(json.dumps({"dataset": "x", "templates": {"t1": {
        "id": "t1", "name": "broken", "jinja": jinja, "answer_choices": answer_choices,
        "metadata": {"original_task": True}}}}))
    return str(tmp_path / "t.yaml")


@pytest.mark.parametrize("jinja,rows,needle", [
    ("{{ review }} ||| {{ answer_choices[label] }}", [{"text": "ok", "label": 1}], "['review']"),
    ("{{ text }} ||| {{ answer_choices[label] }}", [{"text": "ok", "label": 1}, {"text": "no", "label": 5}],
     "label 5 is outside answer_choices"),
    ("{{ text }} ||| {{ label }}", [{"text": "fine", "label": "neutral"}], "'neutral' is outside answer_choices"),
    ("{{ text }} ||| {{ answer_choices[label] }}", [{"text": "a", "label": 0}, {"text": "  ", "label": 0}],
     "the prompt renders empty"),
])
def test_errors_name_the_template_and_the_row(tmp_path, jinja, rows, needle):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gen = make(Templates, {"datasets": [{"data_files": str(data), "task_type": "x",
                                         "templates": _write(tmp_path, jinja)}], "formats": ["zs_noopt"]},
               count=len(rows))
    with pytest.raises(TemplateError) as err:
        records(gen)
    message = str(err.value)
    bad = len(rows) - 1
    assert needle in message and "'broken'" in message and "t.yaml" in message
    assert f"rows.jsonl row {bad}" in message


def test_identity_records_fill_in_name_and_creator():
    out = records(make(Identity, {"model_name": "Wren-1", "creator": "Acme Lab"}, count=14))
    assert len(out) == 14 and len({r.instruction for r in out}) == 14
    assert all("Wren-1" in r.response or "Acme Lab" in r.response for r in out)
    assert {"Who are you?", "Who made you?"} <= {r.instruction for r in out}
    assert all(r.task_type == "identity" and r.provenance.sources[0].startswith("identity/") for r in out)


def test_end_to_end_pipeline_without_a_model(run_in, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("template conversion must not build a model")

    monkeypatch.setattr("datagen.pipeline.build_backend", no_model)
    config = validate_config({
        "name": "tpl-e2e", "seed": 1,
        "generators": [{"type": "templates", "count": 24, "batch_size": 10, "few_shot": 2,
                        "datasets": [dataset(t) for t in TASKS]},
                       {"type": "identity", "count": 3, "model_name": "Wren-1", "creator": "Acme Lab"}],
        "filters": [{"type": "length", "min_response_words": 1}],
    })
    result = run_pipeline(config, quiet=True)
    lines = [json.loads(line) for f in sorted((Path(result.path) / "records").glob("*.jsonl")) for line in open(f)]
    assert result.stats["generators"]["templates"]["generated"] == 24 and len(lines) == 27
    assert {r["task_type"] for r in lines} == {*TASKS, "identity"}


def test_promptsource_filters_and_nested_fields_render_deterministically():
    from datagen.generators.helpers.promptsource import Template

    template = Template(id="sq", name="squad_like", source="inline",
                        jinja="{{ title | upper }}: {{ question }} ||| {{ answers.text | choice }}")
    row = {"title": "Rivers", "question": "Longest river?", "answers": {"text": ["the Nile", "Nile", "Nile river"]}}
    first = render(template, row, "squad row 0")
    assert first.prompt == "RIVERS: Longest river?" and first.target in row["answers"]["text"]
    assert {render(template, row, "squad row 0").target for _ in range(5)} == {first.target}
    votes = Template(id="mf", name="vote", source="inline", jinja="{{ q }} ||| {{ (labels | most_frequent)[0] }}")
    assert render(votes, {"q": "Best?", "labels": ["b", "a", "b"]}, "row 0").target == "b"


def test_hub_datasets_and_named_local_splits(tmp_path, monkeypatch):
    import datasets

    calls = []

    def fake_hub(name, subset=None, split=None, **kwargs):
        calls.append((name, subset, split))
        return datasets.Dataset.from_list([{"text": "Rates rose again.", "label": 2}])

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    gen = make(Templates, {"datasets": [{"hub": "ag_news", "split": "test[:1]", "task_type": "topic",
                                         "templates": str(SEEDS / "topic.templates.yaml")}],
                           "formats": ["zs_noopt"], "inverted": False}, count=1)
    (record,) = records(gen)
    assert calls == [("ag_news", None, "test[:1]")] and record.response == "Business"
    assert record.provenance.sources[0].startswith("ag_news/topic-") and record.task_type == "topic"
    monkeypatch.undo()

    (tmp_path / "dev.csv").write_text("text,label\nA storm hit the coast.,0\n")
    spec = dataset("topic", data_files={"train": str(SEEDS / "topic.csv"), "dev": str(tmp_path / "dev.csv")},
                   split="dev", name="topic_dev")
    (record,) = records(make(Templates, {"datasets": [spec], "formats": ["zs_noopt"], "inverted": False}, count=1))
    assert record.response == "World" and "storm" in record.instruction
    with pytest.raises(ValueError, match="no split 'test'"):
        make(Templates, {"datasets": [{**spec, "split": "test"}]}).datasets()


PROMPTSOURCE = PROJECT_ROOT / "seeds" / "promptsource"
SHARED = PROJECT_ROOT.parent / "shared" / "data"


def test_header_less_csv_with_column_names_and_a_label_offset(tmp_path):
    """AG News' published train.csv: no header, classes numbered 1-4, where promptsource's templates use 0-3."""
    data = tmp_path / "train.csv"
    data.write_text('"3","Wall St. Bears Claw Back","Short-sellers are seeing green again."\n'
                    '"2","Sox win, 5-3","Boston took the series on Sunday."\n')
    templates = tmp_path / "ag_news.yaml"
    templates.write_text(UPSTREAM)
    gen = make(Templates, {"datasets": [{"data_files": str(data), "header": False, "label_offset": -1,
                                         "column_names": ["label", "title", "text"], "task_type": "topic",
                                         "templates": str(templates)}],
                           "formats": ["zs_noopt"]}, count=2)
    out = sorted(records(gen), key=lambda r: r.metadata["row"])
    assert [r.response.split()[0] for r in out] == ["Business", "Sports"]
    assert "Short-sellers are seeing green again." in out[0].messages[0].content  # the first line is data, not a header


def test_glue_rte_renamed_and_relabelled_for_superglue_templates(tmp_path):
    data = tmp_path / "train.tsv"  # GLUE's RTE layout; TSV is read unquoted, so a leading '"' stays text
    data.write_text('index\tsentence1\tsentence2\tlabel\n'
                    '0\tNo WMD were found in Iraq.\tWMD were found in Iraq.\tnot_entailment\n'
                    '1\t"Quoted, he said.\tHe said something.\tentailment\n')
    spec = {"data_files": str(data), "task_type": "nli", "columns": {"sentence1": "premise", "sentence2": "hypothesis"},
            "label_map": {"entailment": 0, "not_entailment": 1},
            "templates": str(PROMPTSOURCE / "super_glue" / "rte" / "templates.yaml")}
    gen = make(Templates, {"datasets": [spec], "formats": ["zs_noopt"]}, count=2)
    out = sorted(records(gen), key=lambda r: r.metadata["row"])
    assert out[0].response in ("No", "False") and out[1].response in ("Yes", "True")
    assert '"Quoted, he said.' in out[1].messages[0].content
    gen = make(Templates, {"datasets": [{**spec, "label_map": {"entailment": 0}}], "formats": ["zs_noopt"]}, count=2)
    with pytest.raises(ValueError, match=r"label_map: .*train\.tsv row 0: label 'not_entailment' is not mapped"):
        records(gen)


def test_validate_names_template_file_and_missing_column(tmp_path, capsys):
    from datagen.cli import main

    data = tmp_path / "train.tsv"
    data.write_text("index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tA man rests.\tentailment\n")
    rte = PROMPTSOURCE / "super_glue" / "rte" / "templates.yaml"
    pipeline = tmp_path / "p.yaml"
    spec = {"data_files": str(data), "task_type": "nli", "templates": str(rte),
            "columns": {"sentence1": "premise"}, "label_map": {"entailment": 0, "not_entailment": 1}}
    pipeline.write_text(json.dumps({"name": "v", "generators": [{"type": "templates", "datasets": [spec]}]}))
    assert main(["validate", str(pipeline)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "generators.templates.datasets.0" in err and str(rte) in err
    assert "reads column 'hypothesis'" in err and str(data) in err
    spec["columns"]["sentence2"] = "hypothesis"
    pipeline.write_text(json.dumps({"name": "v", "generators": [{"type": "templates", "datasets": [spec]}]}))
    assert main(["validate", str(pipeline)]) == 0


def test_header_false_needs_column_names():
    from datagen.config import ConfigError

    with pytest.raises(ConfigError, match="header: false needs column_names"):
        validate_config({"name": "x", "generators": [{"type": "templates", "datasets": [
            {"data_files": "a.csv", "header": False, "task_type": "t", "templates": "t.yaml"}]}]})


@pytest.mark.skipif(not (SHARED / "rte" / "train.tsv").is_file(), reason="../shared/data not next to the repository")
def test_promptsource_glue_pipeline_on_the_published_files(monkeypatch):
    from datagen.cli import main

    monkeypatch.chdir(PROJECT_ROOT)
    assert main(["validate", "pipelines/promptsource-glue.yaml"]) == 0
    config = load_config("pipelines/promptsource-glue.yaml")
    gen = Templates(Templates.Params.model_validate(config.generators[0].params),
                    GeneratorContext(name="templates", count=40, batch_size=40, seed=1,
                                     resolve_path=lambda value, key: resolve_path(value, config, key)))
    out = records(gen)
    assert {r.category for r in out} == {"glue_sst2", "super_glue_rte"} and len(out) == 40
