"""The prompt generator: sampler distributions, seed rows, multi-step templates, schemas, checks and retries."""
import json
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from datagen.backends.base import Backend, Completion
from datagen.generators.base import GeneratorContext
from datagen.generators.prompt import Prompt, PromptParams
from datagen.generators.helpers.samplers import Sampler

ROOT = Path(__file__).resolve().parent.parent


def draws(spec, n=4000, seed=0):
    sampler, rng = Sampler.model_validate(spec), random.Random(seed)
    return [sampler.draw(rng) for _ in range(n)]


def test_sampler_distributions():
    cats = Counter(draws({"category": {"easy": 3, "medium": 1, "hard": 0}}))
    assert set(cats) == {"easy", "medium"} and abs(cats["easy"] / 4000 - 0.75) < 0.03
    flat = Counter(draws({"category": ["a", "b"]}))
    assert abs(flat["a"] / 4000 - 0.5) < 0.03
    ints = draws({"uniform": [2, 6], "integer": True})
    assert set(ints) == {2, 3, 4, 5, 6} and abs(statistics.mean(ints) - 4) < 0.1
    reals = draws({"uniform": [0, 1]})
    assert 0 <= min(reals) and max(reals) <= 1 and abs(statistics.mean(reals) - 0.5) < 0.02
    normal = draws({"normal": [10, 2], "decimals": 1})
    assert abs(statistics.mean(normal) - 10) < 0.15 and abs(statistics.stdev(normal) - 2) < 0.15
    assert all(round(x, 1) == x for x in normal)
    picks = draws({"choice": ["x", "y", "z"], "k": 2}, n=500)
    assert all(len(set(p)) == 2 and set(p) <= {"x", "y", "z"} for p in picks)
    people = draws({"person": True}, n=200)
    assert {"name", "age", "occupation", "country", "education"} == set(people[0])
    assert all(18 <= p["age"] <= 80 for p in people) and len({p["name"] for p in people}) > 100
    assert draws({"normal": [0, 1]}, n=5, seed=3) == draws({"normal": [0, 1]}, n=5, seed=3)


@pytest.mark.parametrize("spec, error", [
    ({"category": ["a"], "uniform": [0, 1]}, "exactly one"), ({}, "exactly one"),
    ({"uniform": [3, 1]}, "low must not exceed"), ({"choice": ["a"], "k": 2}, "at least 2"),
    ({"normal": [0, -1]}, "standard deviation"), ({"category": {"a": -1}}, "negative"),
])
def test_bad_sampler_specs_say_why(spec, error):
    with pytest.raises(ValidationError, match=error):
        Sampler.model_validate(spec)


class Scripted(Backend):
    """Answers by step: a question as JSON (invalid on the first try for every third record), an answer
    that repeats the question it was given."""

    name = "scripted"

    def __init__(self):
        super().__init__("scripted")
        self.calls = []

    def render_chat(self, messages, add_generation_prompt=True):
        return ""

    def _complete(self, prompts, params):
        raise NotImplementedError

    def _chat(self, conversations, params):
        self.calls.append((conversations, params))
        out = []
        for i, conv in enumerate(conversations):
            prompt = conv[-1]["content"]
            if prompt.startswith("Ask"):
                topic = prompt.split("about ")[1].split(" (")[0]
                broken = "record 0" in prompt or ("record 3" in prompt and params.seed % 2 == 0)
                text = "{oops" if broken else json.dumps({"question": f"Why {topic}?", "level": 2})
            else:
                text = f"Because. ({prompt})"
            out.append([Completion(text)])
        return out


def generator(params, count=6, backend=None):
    ctx = GeneratorContext(name="qa", count=count, batch_size=3, seed=1, backend_factory=lambda: backend)
    return Prompt(PromptParams.model_validate(params), ctx)


QA = {
    "variables": {"mood": {"category": ["calm", "curious"]}},
    "steps": [
        {"name": "question", "prompt": "Ask a {{ mood }} question about {{ topic }} (record {{ index }})",
         "schema": {"type": "object", "required": ["question", "level"],
                    "properties": {"question": {"type": "string"}, "level": {"type": "integer"}}},
         "checks": ["level >= 1", {"validator": "matches", "field": "question", "pattern": r"\?$"}]},
        {"name": "answer", "prompt": "Answer: {{ question.question }}", "max_tokens": 32,
         "checks": ["'Because' in text"]},
    ],
    "user": "{{ question.question }}",
    "assistant": "{{ answer }}",
    "max_retries": 1,
}


def test_multi_step_records_fields_and_counted_failures():
    backend = Scripted()
    rows = [{"topic": "tides"}, {"topic": "volcanoes"}]
    gen = generator(QA, count=6, backend=backend)
    gen._items = [(i, f"rows:{i % 2}", rows[i % 2]) for i in range(6)]
    records = [r for b in gen.batches(0, []) for r in b]
    # record 0 never gives JSON: dropped after 2 tries, every failure counted
    assert gen.discarded["question: not JSON"] >= 2 and gen.discarded["question: no valid answer in 2 tries"] == 1
    assert len(records) == 5
    first = records[0]
    assert first.messages[0].content == "Why volcanoes?"
    assert first.messages[1].content == "Because. (Answer: Why volcanoes?)"
    assert first.metadata["fields"] == {"question": {"question": "Why volcanoes?", "level": 2}}
    assert first.metadata["variables"]["mood"] in ("calm", "curious")
    assert first.provenance.sources == ["rows:1"] and first.provenance.generator == "prompt"
    # the schema reached the engine with the question step only; retries used a new seed
    schemas = [p.json_schema is not None for _, p in backend.calls]
    assert schemas[0] and not schemas[-1]
    seeds = [p.seed for _, p in backend.calls if p.json_schema]
    assert len(set(seeds)) == len(seeds)


def test_failed_checks_are_counted_and_unknown_names_are_errors():
    backend = Scripted()
    params = {**QA, "steps": [{**QA["steps"][0], "checks": ["level > 5"]}], "user": None, "assistant": None,
              "max_retries": 2}
    gen = generator(params, count=3, backend=backend)
    gen._items = [(i, "x", {"topic": "tides"}) for i in (1, 2, 4)]
    assert [r for b in gen.batches(0, []) for r in b] == []
    assert gen.discarded["question: check failed: level > 5"] == 3  # counted once each: checks are not retried
    params["steps"][0]["checks"] = ["levle > 5"]
    gen = generator(params, count=3, backend=backend)
    gen._items = [(1, "x", {"topic": "tides"})]
    with pytest.raises(ValueError, match="unknown name 'levle'"):
        list(gen.batches(0, []))


def test_seed_rows_from_a_csv_and_variables_do_not_depend_on_batching():
    gen = generator({"seed_data": str(ROOT / "seeds/datasets/topic.csv"),
                     "variables": {"n": {"uniform": [1, 100], "integer": True}},
                     "steps": [{"name": "s", "prompt": "{{ text }}"}]}, count=5)
    items = gen.work_items()
    assert items[0][2]["text"].startswith("Leaders from twelve") and items[0][1] == "topic.csv:0"
    names = [gen._names(i, row)["n"] for i, _, row in items]
    again = generator({"variables": {"n": {"uniform": [1, 100], "integer": True}},
                       "steps": [{"name": "s", "prompt": "x"}]}, count=5)
    again.ctx.batch_size = 1
    assert [again._names(i, {})["n"] for i in range(5)] == names and len(set(names)) > 1


def test_config_errors_name_the_problem():
    from datagen.config import ConfigError, validate_config

    base = {"name": "p", "generators": [{"type": "prompt", "steps": [{"name": "q", "prompt": "{{ x"}]}]}
    with pytest.raises(ConfigError, match="generators.0.steps.0.prompt: .*not a valid Jinja template"):
        validate_config(base)
    base["generators"][0]["steps"] = [{"name": "q", "prompt": "x", "schema": {"type": "string"}}]
    with pytest.raises(ConfigError, match="object schema"):
        validate_config(base)
    base["generators"][0]["steps"] = [{"name": "q", "prompt": "x", "checks": [{"validator": "nope"}]}]
    with pytest.raises(ConfigError, match="unknown validator 'nope'"):
        validate_config(base)


def test_parsed_fields_become_parquet_columns(tmp_path):
    import pyarrow.parquet as pq

    from datagen.parquet import with_fields, write_parquet
    from datagen.records import Provenance, make_record

    def record(i, fields):
        return make_record(f"q{i}", "a", Provenance(generator="prompt"), metadata={"fields": fields})

    records = [record(0, {"qa": {"level": 2, "score": 1, "tags": ["x"], "q": "why?"}}),
               record(1, {"qa": {"level": 3, "score": 0.5, "tags": [], "q": None}}), record(2, {})]
    schema, row = with_fields(records)
    write_parquet(records, tmp_path / "r.parquet", schema=schema, row=row)
    table = pq.read_table(tmp_path / "r.parquet")
    assert str(table.schema.field("qa.level").type) == "int64"
    assert str(table.schema.field("qa.score").type) == "double"
    assert table.column("qa.tags").to_pylist() == ['["x"]', "[]", None]
    assert table.column("qa.q").to_pylist() == ["why?", None, None]
    assert with_fields([record(3, {})])[0].names == table.schema.names[:-4]
