"""Every outcome is counted in stats.json: unparsed filter verdicts, unknown finish reasons, generators that fall
short of `count`; and a generator pipeline runs on the transformers backend (model id kept as provenance)."""
import json

import pytest

from datagen.backends.base import SamplingParams
from datagen.config import validate_config
from datagen.generators.answer import Answer
from datagen.generators.base import GeneratorContext
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline
from fake_openai import FakeServer, reply

INSTRUCTIONS = ["Name a colour.", "Name a fruit.", "Name a planet."]


def test_unparsed_verdicts_and_unknown_finish_reasons_reach_stats(run_in):
    # a server that answers everything with the same sentence and never says why it stopped
    with FakeServer([reply("I like it.")]) as server:
        config = validate_config({
            "name": "odd-server", "seed": 1,
            "backend": {"type": "openai", "model": "m", "base_url": server.url, "chat_template": "chatml"},
            "generators": [{"type": "answer", "instructions": INSTRUCTIONS, "count": 3, "batch_size": 3}],
            "filters": [{"type": "safety", "checker": "llm"}, {"type": "judge"}],
        })
        result = run_pipeline(config, quiet=True, stages=False)
    stats = json.loads((result.path / "stats.json").read_text())
    assert stats["kept"] == 3  # unparsed verdicts keep records (on_unparsed: keep) ...
    assert stats["filters"]["safety"]["unparsed"] == 3 and stats["filters"]["judge"]["unparsed"] == 3  # ... counted
    answer = stats["generators"]["answer"]
    assert answer["finish_unknown"] == 3 and answer["shortfall"] == 0 and answer["requested"] == 3
    assert all(r.metadata["finish_reason"] is None for r in RunFolder(result.path).records())


def answer_generator(tmp_path, text: str, name="empty.txt"):
    path = tmp_path / name
    path.write_text(text)
    ctx = GeneratorContext(name="answer", count=2, batch_size=2, seed=0)
    return Answer(Answer.Params(file=str(path)), ctx)


def test_an_empty_instruction_file_says_it_is_empty(tmp_path):
    with pytest.raises(ValueError, match=r"empty\.txt \(generators\.answer\.file\) is empty"):
        answer_generator(tmp_path, "\n  \n").work_items()
    with pytest.raises(ValueError, match=r"empty\.jsonl \(generators\.answer\.file\) is empty"):
        answer_generator(tmp_path, "", "empty.jsonl").work_items()
    assert len(answer_generator(tmp_path, "Say hi.\n", "one.txt").work_items()) == 2


def test_a_generator_pipeline_on_the_transformers_backend(run_in, tiny_model_dir):
    """Provenance and the safety filter's guard-model check read `backend.model`: it must stay the model id."""
    config = validate_config({
        "name": "hf", "seed": 3,
        "backend": {"type": "transformers", "model": str(tiny_model_dir), "device": "cpu", "batch_size": 4},
        "generators": [{"type": "answer", "instructions": INSTRUCTIONS, "count": 3, "batch_size": 3,
                        "max_tokens": 8}],
        "filters": [{"type": "safety", "checker": "llm", "max_tokens": 4}],
    })
    result = run_pipeline(config, quiet=True, stages=False)
    folder = RunFolder(result.path)
    records = [*folder.records(), *folder.rejects()]
    stats = result.stats
    assert records and len(records) == stats["generated"]
    assert stats["generated"] + sum(stats["generators"]["answer"]["discarded"].values()) == 3
    assert {(r.provenance.backend, r.provenance.model) for r in records} == {("transformers", str(tiny_model_dir))}
    safety = stats["filters"]["safety"]
    assert safety["in"] == len(records)
    unparsed = [r for r in folder.records() if r.verdicts[-1].details.get("unparsed")]
    assert safety["unparsed"] == len(unparsed)


def test_llamacpp_keeps_a_missing_finish_reason_unknown(embedded_backend, monkeypatch):
    def no_reason(prompt, **kwargs):
        return {"choices": [{"text": "Hi", "finish_reason": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    monkeypatch.setattr(embedded_backend.llm, "create_completion", no_reason)
    [[out]] = embedded_backend.complete(["Say hi."], SamplingParams(max_tokens=2))
    assert out.text == "Hi" and out.finish_reason is None
