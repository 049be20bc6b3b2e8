import pytest
from pydantic import ValidationError

from datagen.formats import FORMATS, convert, detect_format, parse
from datagen.records import Message, Provenance, Record, Verdict, make_record

PROV = Provenance(generator="test")


def record(*turns, system=None, **fields):
    messages = [Message(role="system", content=system)] if system else []
    messages += [Message(role=("user", "assistant")[i % 2], content=t) for i, t in enumerate(turns)]
    return Record(messages=messages, provenance=PROV, **fields)


def test_id_is_a_stable_content_hash():
    a = record("Name a colour.", "Blue.")
    b = record("Name a colour.", "Blue.", task_type="open_qa")
    c = record("Name a colour.", "Red.")
    assert a.id == b.id and len(a.id) == 16
    assert a.id != c.id
    assert Record.model_validate_json(a.model_dump_json()) == a


@pytest.mark.parametrize("turns, field, message", [
    ([{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}], "messages.0.content", "empty"),
    ([{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}], "messages.0.role", "system"),
    ([{"role": "user", "content": "hi"}], "messages", "last message must be an assistant"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
     "messages", "alternate"),
    ([{"role": "assistant", "content": "a"}], "messages", "first non-system message must be a user"),
])
def test_bad_conversations_name_the_field(turns, field, message):
    with pytest.raises(ValidationError) as err:
        Record(messages=turns, provenance=PROV)
    text = str(err.value)
    assert field in text and message in text


def test_rejecting_verdict_needs_a_reason():
    with pytest.raises(ValidationError, match="without a reason"):
        record("q", "a", verdicts=[{"filter": "x", "keep": False}])


SAMPLES = {
    "alpaca": {"instruction": "Classify the sentiment.", "input": "I loved it!", "output": "positive"},
    "sharegpt": {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                   {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Bye"},
                                   {"from": "gpt", "value": "Goodbye."}]},
    "messages": {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    "prompt_completion": {"prompt": [{"role": "user", "content": "Say hi"}],
                          "completion": [{"role": "assistant", "content": "hi"}]},
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip(fmt):
    row = SAMPLES[fmt]
    assert detect_format(row) == fmt
    rec = parse(row, provenance=PROV)
    assert convert(rec, fmt) == row
    # through JSON and back, still the same row
    assert convert(Record.model_validate_json(rec.model_dump_json()), fmt) == row


def test_alpaca_input_joins_the_instruction():
    rec = parse(SAMPLES["alpaca"])
    assert rec.instruction == "Classify the sentiment.\n\nI loved it!"
    assert convert(rec, "messages")["messages"][-1] == {"role": "assistant", "content": "positive"}


def test_cross_format_conversion_keeps_the_conversation():
    rec = parse(SAMPLES["sharegpt"])
    again = parse(convert(rec, "messages"))
    assert again.messages == rec.messages and again.id == rec.id
    with pytest.raises(ValueError, match="2 user turns"):
        convert(rec, "alpaca")


def test_plain_prompt_completion_and_errors():
    rec = parse({"prompt": "Capital of Peru?", "completion": "Lima"})
    assert rec.instruction == "Capital of Peru?" and rec.response == "Lima"
    with pytest.raises(ValueError, match="'output'"):
        parse({"instruction": "x", "input": ""}, "alpaca")
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format({"text": "hello"})
    with pytest.raises(ValueError, match=r"conversations\[0\]\.from"):
        parse({"conversations": [{"from": "bot", "value": "x"}]})


def test_make_record_and_views():
    rec = make_record("Q?", "A.", PROV, system="Sys")
    assert (rec.system, rec.instruction, rec.response) == ("Sys", "Q?", "A.")
    scrubbed = rec.with_messages([Message(role="user", content="Q2?"), Message(role="assistant", content="A.")])
    assert scrubbed.id != rec.id and scrubbed.provenance == rec.provenance


def test_with_messages_keeps_verdicts_tags_and_metadata_as_copies():
    rec = make_record("Q?", "A.", PROV, tags=["seed"], metadata={"source": "x"}, scores={"judge": 4.0},
                      verdicts=[Verdict(filter="length", keep=True)])
    new = rec.with_messages([Message(role="user", content="Q?"), Message(role="assistant", content="B.")],
                            tags=["scrubbed"], metadata={"from": rec.id})
    assert new.verdicts == rec.verdicts and new.scores == rec.scores
    assert new.tags == ["seed", "scrubbed"] and new.metadata == {"source": "x", "from": rec.id}
    new.verdicts.append(Verdict(filter="pii", keep=True))
    new.scores["judge"] = 1.0
    assert len(rec.verdicts) == 1 and rec.scores == {"judge": 4.0}
    assert rec.tags == ["seed"] and rec.metadata == {"source": "x"}
