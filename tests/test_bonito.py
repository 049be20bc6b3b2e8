import json
from pathlib import Path

import pytest

from datagen.backends.base import Backend, Completion, SamplingParams
from datagen.config import ConfigError, validate_config
from datagen.generators.base import GeneratorContext
from datagen.generators.bonito import (
    PIPE,
    Bonito,
    BonitoParams,
    ParseError,
    bonito_prompt,
    instruct_chat,
    parse_bonito,
    parse_instruct,
    task_types,
)
from datagen.generators.helpers.passages import PassageError, read_dataset, read_folder, read_jsonl, read_passages
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "passages" / "passages.jsonl"
REASONS = {"no pipe separator", "more than two parts", "empty task input", "empty output"}


def seed_passages():
    return read_jsonl(SEEDS, id_field="id")


# --- the reply contract --------------------------------------------------------------------------

def test_reference_format_reply_is_split_and_context_substituted():
    reply = ("Read the text and answer.\n{{context}}\nWhich pigment absorbs red light?\n<|pipe|>\nchlorophyll")
    instruction, response = parse_bonito(reply, "  Leaves hold chlorophyll.  ")
    assert instruction == "Read the text and answer.\nLeaves hold chlorophyll.\nWhich pigment absorbs red light?"
    assert response == "chlorophyll"


@pytest.mark.parametrize("reply, reason", [
    ("{{context}}\nIs it green?", "no pipe separator"),
    ("{{context}}\nQ?\n<|pipe|>\nA\n<|pipe|>\nB", "more than two parts"),
    ("{{context}}\nQ?\n<|pipe|>\n   ", "empty output"),
    ("\n<|pipe|>\nYes", "empty task input"),
])
def test_only_exactly_two_nonempty_parts_are_kept(reply, reason):
    with pytest.raises(ParseError, match=reason):
        parse_bonito(reply, "passage")
    with pytest.raises(ParseError, match=reason):
        parse_instruct(reply, "passage")


def test_instruct_parser_strips_labels_and_places_the_passage():
    instruction, response, placed = parse_instruct("Task: Is the sky blue?\n<|pipe|>\nAnswer: Yes", "The sky is blue.")
    assert (instruction, response, placed) == ("The sky is blue.\n\nIs the sky blue?", "Yes", False)
    instruction, _, placed = parse_instruct("Summarize: {{context}}\n<|pipe|>\nShort.", "Long text.")
    assert instruction == "Summarize: Long text." and placed
    assert parse_instruct("Long text.\nIs it long?\n<|pipe|>\nYes", "Long text.")[0] == "Long text.\nIs it long?"
    with pytest.raises(ParseError, match="empty output"):
        parse_instruct("Is it?\n<|pipe|>\nAnswer:  ", "x")


def test_bonito_prompt_is_the_reference_layout():
    assert bonito_prompt("nli", " A cat sat. ") == (
        "<|tasktype|>\nnatural language inference\n<|context|>\nA cat sat.\n<|task|>\n")
    assert len(task_types()) == 16


def test_instruct_prompt_names_the_task_and_holds_the_passage():
    chat = instruct_chat("wsd", "The bank of the river.")
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
    assert "word sense disambiguation" in chat[-1]["content"] and "The bank of the river." in chat[-1]["content"]
    assert PIPE in chat[2]["content"]


def _check_against_contract(text: str, parse) -> str:
    """Parse a real reply; the outcome must follow the pipe count. Returns 'ok' or the discard reason."""
    pieces = [p.strip() for p in text.split(PIPE)]
    try:
        result = parse(text)
    except ParseError as err:
        assert str(err) in REASONS
        assert len(pieces) != 2 or not all(pieces) or str(err).startswith("empty")
        return str(err)
    assert len(pieces) == 2 and result[1] and result[0]
    return "ok"


def test_parsers_on_real_embedded_output(embedded_backend):
    passages = {p.id: p for p in seed_passages()}
    items = [("sports-marathon", "ynqa"), ("science-tides", "exqa")]
    params = SamplingParams(temperature=0.0, max_tokens=32, seed=3)
    chats = [instruct_chat(t, passages[pid].text) for pid, t in items]
    outcomes = []
    for (pid, _), choices in zip(items, embedded_backend.chat(chats, params)):
        text = passages[pid].text
        outcome = _check_against_contract(choices[0].text, lambda r: parse_instruct(r, text))
        if outcome == "ok":
            instruction, response, placed = parse_instruct(choices[0].text, text)
            assert text in instruction and PIPE not in instruction + response
        outcomes.append(outcome)
    # the marathon yes/no item answers in the contract's form with this model at temperature 0
    assert outcomes[0] == "ok", outcomes
    # the raw Bonito format on a model not trained for it: judged by the same rule
    raw = embedded_backend.complete([bonito_prompt("exqa", passages["science-tides"].text)],
                                    SamplingParams(temperature=0.5, top_p=0.95, max_tokens=24, seed=1))
    _check_against_contract(raw[0][0].text, lambda r: parse_bonito(r, "ctx"))


# --- passages ------------------------------------------------------------------------------------

def test_seed_passages_cover_many_domains():
    passages = seed_passages()
    assert len(passages) >= 30 and len({p.domain for p in passages}) >= 8
    assert all(80 <= len(p.text.split()) <= 200 for p in passages)
    assert len({p.id for p in passages}) == len(passages)


def test_folder_passages_take_domain_from_subfolder(tmp_path):
    (tmp_path / "law").mkdir()
    (tmp_path / "law" / "contracts.md").write_text("A contract needs an offer.\n")
    (tmp_path / "loose.txt").write_text("Some text.")
    (tmp_path / "ignored.csv").write_text("a,b")
    passages = read_passages(tmp_path)
    assert [(p.id, p.domain, p.text) for p in passages] == [
        ("law/contracts", "law", "A contract needs an offer."), ("loose", None, "Some text.")]
    (tmp_path / "law" / "empty.txt").write_text("  \n")
    with pytest.raises(PassageError, match="empty.txt: the file is empty"):
        read_folder(tmp_path)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(PassageError, match="no .txt or .md files"):
        read_folder(tmp_path / "nothing")


def test_jsonl_passages_and_their_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"body": "First passage.", "key": "a", "domain": "x"}\n\n{"body": "Second.", "key": 7}\n')
    passages = read_jsonl(path, text_field="body", id_field="key")
    assert [(p.id, p.domain) for p in passages] == [("a", "x"), ("7", None)]
    assert [p.id for p in read_jsonl(path, text_field="body")] == ["p.jsonl:1", "p.jsonl:3"]
    for content, message in [('{"text": "ok"}\n{"txt": "x"}\n', "line 2: no 'text' field"),
                             ('{"text": "   "}\n', "line 1: 'text' is empty"),
                             ('{"text": 3}\n', "'text' must be a string"),
                             ('not json\n', "line 1: not valid JSON"),
                             ('', "no passages")]:
        path.write_text(content)
        with pytest.raises(PassageError, match=message):
            read_jsonl(path)
    path.write_text('{"text": "ok"}\n')
    with pytest.raises(PassageError, match="line 1: no 'id' field"):
        read_jsonl(path, id_field="id")


def test_dataset_passages_from_local_files(tmp_path):
    import datasets

    csv = tmp_path / "p.csv"
    csv.write_text("doc,domain\nOne passage.,news\nAnother one.,\n")
    passages = read_dataset(str(csv), text_field="doc")
    assert [(p.id, p.text, p.domain) for p in passages] == [("p.csv:train:0", "One passage.", "news"),
                                                            ("p.csv:train:1", "Another one.", None)]
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": ["a b c", "d e f"], "uid": ["u1", "u2"]}).save_to_disk(str(saved))
    assert [p.id for p in read_dataset(str(saved), id_field="uid")] == ["u1", "u2"]
    with pytest.raises(PassageError, match="no column 'body'; columns are text, uid"):
        read_dataset(str(saved), text_field="body")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": ""}\n')
    with pytest.raises(PassageError, match="bad.jsonl: row 1: 'text' is empty"):
        read_dataset(str(bad))


# --- the generator -------------------------------------------------------------------------------

def test_params_check_task_types_and_sources():
    params = BonitoParams(passages="x", task_types=["exqa", "natural language inference", "exqa"])
    assert params.task_types == ["exqa", "nli"]
    with pytest.raises(ValueError, match="unknown task type 'riddles'"):
        BonitoParams(passages="x", task_types=["riddles"])
    with pytest.raises(ValueError, match="exactly one of"):
        BonitoParams(passages="x", dataset="y")
    with pytest.raises(ConfigError, match="generators.0.task_types"):
        validate_config({"name": "t", "generators": [{"type": "bonito", "passages": "x", "task_types": ["zz"]}]})


class ScriptedBackend(Backend):
    """Replies in the Bonito reference format, in turn from a list; records every prompt it is given."""

    name = "scripted"

    def __init__(self, model: str = "BatsResearch/bonito-v1", replies: tuple = ()) -> None:
        super().__init__(model)
        self.replies, self.prompts, self.calls = list(replies), [], 0

    def render_chat(self, messages, add_generation_prompt=True):
        return "\n".join(m["content"] for m in messages)

    def _complete(self, prompts, params):
        self.prompts += prompts
        out = []
        for _ in prompts:
            text = self.replies[self.calls % len(self.replies)]
            self.calls += 1
            out.append([Completion(text, "stop", 10, 10)])
        return out


def make_generator(backend, count=6, seed=1, **params):
    ctx = GeneratorContext(name="bonito", count=count, batch_size=4, seed=seed, backend_factory=lambda: backend)
    return Bonito(BonitoParams(passages=str(SEEDS), id_field="id", **params), ctx)


def test_work_items_are_a_deterministic_shuffle_of_the_grid_with_each_passage_s_types_in_a_row():
    gen = make_generator(None, count=200, task_types=["exqa", "qa", "ynqa"])
    items = gen.work_items()
    first_round = [(i, t) for i, t, r in items if r == 0]
    assert len(first_round) == len(set(first_round)) == len(gen.load_passages()) * 3
    passages = [i for i, _ in first_round]
    assert passages[::3] == passages[1::3] == passages[2::3]  # one passage's types together: its head is shared
    assert passages[::3] != sorted(passages[::3])
    assert len({tuple(t for _, t in first_round[k:k + 3]) for k in range(0, len(first_round), 3)}) > 1
    assert items[len(first_round)][2] == 1  # a second round starts after the whole grid
    assert make_generator(None, count=200, task_types=["exqa", "qa", "ynqa"]).work_items() == items
    assert make_generator(None, count=200, seed=2, task_types=["exqa", "qa", "ynqa"]).work_items() != items


def test_auto_mode_uses_the_bonito_format_and_counts_discards():
    replies = ["Answer from the text.\n{{context}}\nWhat is it?\n<|pipe|>\nA thing",
               "no separator here", "a\n<|pipe|>\nb\n<|pipe|>\nc", "{{context}}\nQ\n<|pipe|>\n"]
    backend = ScriptedBackend(replies=tuple(replies))
    gen = make_generator(backend, count=4, task_types=["exqa"])
    assert gen.resolved_mode() == "bonito"
    records = list(gen.batches(0, []))[0]
    assert all(p.startswith("<|tasktype|>\nextractive question answering\n<|context|>\n") for p in backend.prompts)
    assert dict(gen.discarded) == {"no pipe separator": 1, "more than two parts": 1, "empty output": 1}
    (record,) = records
    passage = next(p for p in gen.load_passages() if p.id == record.provenance.sources[0])
    assert record.instruction == f"Answer from the text.\n{passage.text}\nWhat is it?"
    assert (record.task_type, record.category, record.metadata["mode"]) == ("exqa", passage.domain, "bonito")
    assert record.metadata["passage_id"] == passage.id


def test_auto_mode_is_instruct_for_other_models():
    backend = ScriptedBackend(model="embedded:SmolLM2", replies=("Is it so?\n<|pipe|>\nYes",))
    gen = make_generator(backend, count=2, task_types=["ynqa"])
    records = list(gen.batches(0, []))[0]
    assert gen.resolved_mode() == "instruct" and len(records) == 2
    assert all(r.metadata["mode"] == "instruct" and r.instruction.endswith("Is it so?") for r in records)
    assert "Exercise type: yes-no question answering" in backend.prompts[0]


def test_end_to_end_on_the_embedded_model(run_in):
    passages = {p.id: p for p in seed_passages()}
    (run_in / "one.jsonl").write_text(json.dumps({"id": "m1", "domain": "sports",
                                                  "text": passages["sports-marathon"].text}) + "\n")
    config = validate_config({
        "name": "bonito-test", "seed": 3,
        "backend": {"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 2},
        "generators": [{"type": "bonito", "passages": "one.jsonl", "id_field": "id", "task_types": ["ynqa"],
                        "count": 1, "batch_size": 1, "temperature": 0.0, "max_tokens": 40}],
    })
    result = run_pipeline(config, quiet=True)
    gen_stats = result.stats["generators"]["bonito"]
    assert gen_stats["generated"] + sum(gen_stats["discarded"].values()) == 1
    records = list(RunFolder(result.path).records())
    assert len(records) == 1
    record = records[0]
    assert record.task_type == "ynqa" and record.category == "sports"
    assert record.provenance.sources == ["m1"] and record.provenance.generator == "bonito"
    assert record.metadata["mode"] == "instruct" and passages["sports-marathon"].text in record.instruction
