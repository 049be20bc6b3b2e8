"""Magpie: pre-query extraction per family, the query sanitizer on real output, multi-turn, preference mode."""
import re

import pytest

from datagen.backends.chat_template import render_template
from datagen.config import ConfigError, validate_config
from datagen.generators.base import GeneratorContext
from datagen.generators.magpie import Magpie, MagpieParams, sanitize_query
from datagen.generators.helpers.magpie_template import KNOWN_FAMILIES, detect_family, prefix_before_user

# Templates as the families' tokenizers ship them (trimmed of tool-calling branches), including their refusals.
REAL_TEMPLATES = {
    "llama3": ("<|begin_of_text|>", "{% for message in messages %}{% set content = '<|start_header_id|>' + "
               "message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}"
               "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    "gemma": ("<bos>", "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
              "{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}"
              "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
              "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
              "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
              "{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + "
              "message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"),
    "mistral": ("<s>", "{{ bos_token }}{% for message in messages %}"
                "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"),
    "phi3": ("", "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
             "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
             "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
             "message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
             "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"),
}
HISTORY = [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "Seven."}]


def real_render(family):
    bos, template = REAL_TEMPLATES[family]
    return lambda messages, gen=True: render_template(template, messages, gen, bos, "</s>")


@pytest.mark.parametrize("family", sorted(KNOWN_FAMILIES))
def test_family_table_matches_its_template(family):
    fam = KNOWN_FAMILIES[family]
    assert prefix_before_user(fam.render, []) == fam.pre_query
    assert detect_family(fam.render) == family
    with_system = prefix_before_user(fam.render, [], "Be brief.")
    assert "Be brief." in with_system
    follow_up = prefix_before_user(fam.render, HISTORY, "Be brief.")
    assert "Name a prime." in follow_up and "Seven." in follow_up
    assert follow_up.index("Seven.") < len(follow_up) - 1  # the prefix opens a new turn after the answer


@pytest.mark.parametrize("family", sorted(REAL_TEMPLATES))
def test_real_templates_give_the_known_pre_query(family):
    render = real_render(family)
    assert prefix_before_user(render, []) == KNOWN_FAMILIES[family].pre_query
    assert detect_family(render) == family


def test_system_prompt_is_folded_into_the_user_turn_where_the_template_refuses_it():
    render = real_render("gemma")
    assert prefix_before_user(render, [], "Solve math.") == "<bos><start_of_turn>user\nSolve math.\n\n"
    follow_up = prefix_before_user(render, HISTORY, "Solve math.")
    assert follow_up == ("<bos><start_of_turn>user\nSolve math.\n\nName a prime.<end_of_turn>\n"
                         "<start_of_turn>model\nSeven.<end_of_turn>\n<start_of_turn>user\n")
    assert prefix_before_user(real_render("mistral"), HISTORY) == "<s>[INST] Name a prime. [/INST]Seven.</s>[INST] "


def test_embedded_model_template(embedded_backend):
    render = embedded_backend.render_chat
    assert detect_family(render) == "smollm2"
    assert prefix_before_user(render, []) == KNOWN_FAMILIES["smollm2"].pre_query
    assert prefix_before_user(render, [], "You solve math.") == "<|im_start|>system\nYou solve math.<|im_end|>\n<|im_start|>user\n"


@pytest.mark.parametrize("raw, finish, expected", [
    ("Task: Write a poem about rain.", "stop", "Write a poem about rain."),
    ('User: Question: "How do plants make food?"', "stop", "How do plants make food?"),
    ("<|im_start|>user\nWhat is the capital of Peru?", "stop", "What is the capital of Peru?"),
    ("How do I bake bread at home?<|im_end|>\n<|im_start|>assistant\nSure", "stop", "How do I bake bread at home?"),
    ("  “Explain recursion to a child.”  ", "stop", "Explain recursion to a child."),
    ("1. List three uses of copper.", "stop", "List three uses of copper."),
    ("Can you create a", "stop", None),
    ("Here is my question:", "stop", None),
    ("What is the best way to learn", "length", None),
    ("???", "stop", None),
    ("Hi", "stop", None),
    ("<|im_end|>", "stop", None),
])
def test_sanitizer_edge_cases(raw, finish, expected):
    query, reason = sanitize_query(raw, finish)
    assert query == expected
    assert (reason is None) == (expected is not None)


def magpie(backend, count=2, seed=3, **params):
    ctx = GeneratorContext(name="magpie", count=count, batch_size=count, seed=seed, _backend=backend)
    return Magpie(MagpieParams(**params), ctx)


def test_sanitizer_on_real_magpie_queries(embedded_backend):
    gen = magpie(embedded_backend)
    gen._setup()
    query_params, _ = gen.sampling(0)
    prompt = prefix_before_user(gen._render, [])
    outs = embedded_backend.complete([prompt] * 4, query_params.replace(max_tokens=40))
    cleaned = [sanitize_query(c[0].text, c[0].finish_reason) for c in outs]
    kept = [q for q, _ in cleaned if q]
    assert kept, f"no usable query among {[c[0].text for c in outs]}"
    for (query, reason), choices in zip(cleaned, outs):
        if query is None:
            assert reason in {"truncated query", "cut-off query", "query too short", "query ends with a colon",
                              "empty query", "query without words"}
            assert reason != "truncated query" or choices[0].finish_reason == "length"
            continue
        assert not re.search(r"<\|.*?\|>|\n", query) and len(query.split()) >= 3
        # a label in front of real text comes off again, and a role token after it cuts the junk away
        assert sanitize_query(f"Question: {query}<|im_end|>\n<|im_start|>assistant\nOk")[0] == query


def test_multi_turn_alternates(embedded_backend):
    gen = magpie(embedded_backend, count=2, n_turns=2, max_tokens=48, response_max_tokens=8)
    records = gen.run_batch(range(2), 0)
    follow_up = sum(n for reason, n in gen.discarded.items() if reason.startswith("follow-up"))
    # each sample is a record or a counted first-turn discard; each record cut short has a counted follow-up reason
    assert len(records) + sum(gen.discarded.values()) - follow_up == 2
    assert follow_up == sum(r.metadata["turns"] < 2 for r in records)
    for record in records:
        roles = [m.role for m in record.messages]
        assert roles == ["user", "assistant"] * record.metadata["turns"]
        assert record.metadata["turns"] == 2 or record.metadata["stopped"]
        if record.metadata["turns"] == 2:  # the follow-up was asked with the first exchange in its prompt
            assert record.messages[0].content != record.messages[2].content


def preference_batch(backend):
    return magpie(backend, count=2, responses_per_instruction=3, max_tokens=48, response_max_tokens=8,
                  domain="math").run_batch(range(2), 0)


def test_preference_mode_keeps_n_responses(embedded_backend):
    records = preference_batch(embedded_backend)
    assert records, "no record came out of two Magpie samples"
    for record in records:
        responses = record.metadata["responses"]
        assert len(responses) == 3 and responses[0] == record.response
        assert record.provenance.sampling["response"]["temperature"] == 0.8
        assert record.metadata["domain"] == "math" and record.system is None
    assert any(len(set(r.metadata["responses"])) > 1 for r in records)


@pytest.mark.slow
def test_same_seed_same_records(embedded_backend):
    first, second = preference_batch(embedded_backend), preference_batch(embedded_backend)
    assert [r.messages for r in first] == [r.messages for r in second]
    assert [r.metadata["responses"] for r in first] == [r.metadata["responses"] for r in second]


def test_template_override_and_bad_params(embedded_backend):
    gen = magpie(embedded_backend, template="chatml")
    gen._setup()
    assert prefix_before_user(gen._render, []) == "<|im_start|>user\n"
    for bad, key in (({"template": "llama9"}, "llama9"), ({"domain": "poetry"}, "poetry")):
        with pytest.raises(ConfigError, match=key):
            validate_config({"name": "x", "generators": [{"type": "magpie", **bad}]})


def test_pipeline_end_to_end(run_in):
    from datagen.run_folder import RunFolder
    from datagen.pipeline import run_pipeline

    config = validate_config({
        "name": "magpie-test", "seed": 5, "backend": {"type": "llamacpp", "model": "embedded", "workers": 1},
        "generators": [{"type": "magpie", "count": 2, "batch_size": 2, "max_tokens": 48,
                        "response_max_tokens": 8, "domain": "code", "keep_system": True}],
    })
    result = run_pipeline(config, quiet=True)
    folder = RunFolder(result.path)
    records = list(folder.records())
    discarded = sum(sum(s["discarded"].values()) for s in folder.shard_stats())
    assert len(records) + discarded == 2 and records
    for record in records:
        prov = record.provenance
        assert prov.generator == "magpie" and prov.backend == "llamacpp" and prov.model.startswith("embedded")
        assert prov.sampling["query"]["temperature"] == 1.0 and "\n" in prov.sampling["query"]["stop"]
        assert prov.sources and prov.sources[0].startswith("magpie:") and prov.run == "magpie-test"
        assert record.system and "programmers" in record.system
        assert record.metadata["pre_query"].startswith("<|im_start|>system\nYou are an assistant for programmers")
