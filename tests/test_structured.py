"""Structured output: schema -> pydantic validation, and the schema reaching each engine (llama.cpp grammar on
the embedded model, response_format on llama-cpp-python's OpenAI-compatible server, vLLM's params)."""
import sys
import types

import pytest
from test_backends import llama_server  # noqa: F401  (the module's server fixture)
from test_vllm_backend import fake_vllm  # noqa: F401

from datagen.backends import SamplingParams, build_backend
from datagen.structured import InvalidOutput, OutputSchema, SchemaError

LABEL = {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}},
         "required": ["sentiment"], "additionalProperties": False}
REVIEW = [{"role": "user", "content": "Is this review positive or negative? 'I loved every minute of it.'"}]


class Pair(__import__("pydantic").BaseModel):
    question: str
    answer: str


def test_schema_becomes_a_pydantic_model_that_validates():
    schema = OutputSchema({"type": "object", "required": ["q", "tags"], "properties": {
        "q": {"type": "string", "minLength": 3}, "n": {"type": "integer", "minimum": 1},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "inner": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}})
    assert schema.parse('{"q": "why?", "tags": ["a"], "n": 2, "inner": {"ok": true}}') == {
        "q": "why?", "n": 2, "tags": ["a"], "inner": {"ok": True}}
    # prose or a code fence around the object (an unconstrained engine) is tolerated
    assert schema.parse('Here:\n```json\n{"q": "why?", "tags": []}\n```')["n"] is None
    for text, reason in [('{"q": "why?"}', "schema: tags: missing"),
                         ('{"q": "a", "tags": []}', "schema: q: string_too_short"),
                         ('{"q": "why?", "tags": ["c"]}', "schema: tags.0: literal_error"),
                         ('{"q": "why?", "tags": [], "n": 0}', "schema: n: greater_than_equal"),
                         ("no json", "not JSON")]:
        with pytest.raises(InvalidOutput) as err:
            schema.parse(text)
        assert err.value.reason == reason
    with pytest.raises(InvalidOutput, match="extra_forbidden"):
        OutputSchema(LABEL).parse('{"sentiment": "positive", "why": "x"}')


def test_pydantic_model_path_and_bad_schemas():
    schema = OutputSchema("test_structured:Pair")
    assert schema.json_schema["required"] == ["question", "answer"]
    assert schema.parse('{"question": "q", "answer": "a"}') == {"question": "q", "answer": "a"}
    with pytest.raises(SchemaError, match="cannot import"):
        OutputSchema("nowhere:Model", "generators.0.steps.0.schema")
    with pytest.raises(SchemaError, match="oneOf"):
        OutputSchema({"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}})


def test_llamacpp_grammar_constrains_decoding(embedded_backend):
    params = SamplingParams(temperature=0.9, max_tokens=12, seed=4, n=2)
    free = embedded_backend.chat([REVIEW], params)[0]
    constrained = embedded_backend.chat([REVIEW], params.replace(json_schema=LABEL))[0]
    schema = OutputSchema(LABEL)
    assert [schema.parse(c.text)["sentiment"] in ("positive", "negative") for c in constrained] == [True, True]
    with pytest.raises(InvalidOutput):  # the same sampling without the grammar is not this JSON
        [schema.parse(c.text) for c in free]


def test_openai_response_format_against_llama_cpp_server(llama_server):  # noqa: F811
    b = build_backend({"type": "openai", "model": "smollm2", "base_url": llama_server, "concurrency": 2,
                       "schema_format": "json_object"})
    out = b.chat([REVIEW, [{"role": "user", "content": "Say hello."}]],
                 SamplingParams(temperature=0.8, max_tokens=24, seed=2, json_schema=LABEL))
    schema = OutputSchema(LABEL)
    assert [schema.parse(cs[0].text)["sentiment"] in ("positive", "negative") for cs in out] == [True, True]
    b.close()


def test_openai_request_carries_the_schema():
    b = build_backend({"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"})
    args = b._request_args(SamplingParams(json_schema=LABEL), 0)
    assert args["extra_body"]["response_format"] == {"type": "json_schema",
                                                     "json_schema": {"name": "output", "schema": LABEL}}
    assert "response_format" not in b._request_args(SamplingParams(), 0).get("extra_body", {})


@pytest.mark.parametrize("api", ["structured_outputs", "guided_decoding"])
def test_vllm_gets_its_structured_output_params(fake_vllm, monkeypatch, api):  # noqa: F811
    calls, _ = fake_vllm
    module = types.ModuleType("vllm.sampling_params")
    if api == "structured_outputs":
        module.StructuredOutputsParams = lambda **kw: ("structured", kw)
    else:
        module.GuidedDecodingParams = lambda **kw: ("guided", kw)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", module)
    backend = build_backend({"type": "vllm", "model": "some/model"})
    backend.complete(["a", "b"], SamplingParams(seed=1, json_schema=LABEL))
    backend.complete(["c"], SamplingParams(seed=1))
    first, second = [c[2] for c in calls if c[0] == "generate"]
    assert [p.kwargs[api] for p in first] == [(api.split("_")[0], {"json": LABEL})] * 2
    assert api not in second[0].kwargs


@pytest.mark.slow
def test_structured_pipeline_writes_only_valid_records_and_reruns_from_cache(run_in):
    """The shipped pipeline, cut to 2 records: every kept record's fields validate; a rerun makes no model call."""
    import yaml

    from datagen.config import validate_config
    from datagen.run_folder import RunFolder
    from datagen.pipeline import run_pipeline
    from test_cache import ROOT

    data = yaml.safe_load((ROOT / "pipelines/structured.yaml").read_text())
    data["generators"][0].update(count=2, batch_size=2)
    data["generators"][0]["seed_data"] = str(ROOT / "seeds/passages/passages.jsonl")
    first = run_pipeline(validate_config(data), quiet=True)
    schema = OutputSchema(data["generators"][0]["steps"][0]["schema"])
    for record in RunFolder(first.path).records():
        schema.model.model_validate(record.metadata["fields"]["qa"])
        assert record.messages[-1].content == record.metadata["fields"]["qa"]["answer"]
    again = run_pipeline(validate_config(data), quiet=True, restart=True)
    assert again.stats["cache"]["hits"] == again.stats["cache"]["calls"] == first.stats["cache"]["calls"] > 0
    assert again.stats["kept"] == first.stats["kept"]
