"""The vLLM backend's own code (batching, per-request seeds, BOS handling, result mapping) against a stand-in
`vllm` module: vLLM needs a GPU and is not installed on CPU machines. The stand-in records what it is given."""
import sys
import types
from dataclasses import dataclass, field

import pytest

from datagen.backends import SamplingParams, build_backend


@dataclass
class FakeOutput:
    text: str
    token_ids: list
    finish_reason: str = "stop"


@dataclass
class FakeRequest:
    prompt_token_ids: list
    outputs: list = field(default_factory=list)
    num_cached_tokens: int | None = 2  # prefix-cache hits, as vLLM's RequestOutput reports them


FINISH = {"reason": "stop"}  # what the stand-in engine reports as finish reason


@pytest.fixture
def fake_vllm(monkeypatch, tiny_model_dir):
    from transformers import AutoTokenizer

    calls = []
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    class LLM:
        def __init__(self, **kwargs):
            calls.append(("init", kwargs))

        def get_tokenizer(self):
            return tokenizer

        def generate(self, inputs, params, use_tqdm=True):
            calls.append(("generate", inputs, params))
            return [FakeRequest(i["prompt_token_ids"], [FakeOutput(f"answer {k} to {len(i['prompt_token_ids'])}",
                                                                   [1, 2, 3], FINISH["reason"])
                                                        for k in range(p.kwargs["n"])])
                    for i, p in zip(inputs, params)]

    class FakeSamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = LLM, FakeSamplingParams
    inputs_module = types.ModuleType("vllm.inputs")
    inputs_module.TokensPrompt = dict
    module.inputs = inputs_module
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs_module)
    return calls, tokenizer


def test_whole_batch_goes_to_one_engine_call_with_per_request_seeds(fake_vllm):
    calls, tokenizer = fake_vllm
    backend = build_backend({"type": "vllm", "model": "some/model", "tensor_parallel_size": 2})
    assert calls[0][1]["enable_prefix_caching"] is True and calls[0][1]["tensor_parallel_size"] == 2
    params = SamplingParams(temperature=0.9, top_p=0.8, max_tokens=7, stop=("\n",), n=2, seed=100,
                            repetition_penalty=1.1, presence_penalty=0.5)
    results = backend.complete(["first prompt", "second, longer prompt here", "third"], params)
    generate_calls = [c for c in calls if c[0] == "generate"]
    assert len(generate_calls) == 1  # continuous batching does the rest
    _, inputs, vparams = generate_calls[0]
    assert [p.kwargs["seed"] for p in vparams] == [100, 102, 104]  # seed + i * n
    assert vparams[0].kwargs == {"n": 2, "temperature": 0.9, "top_p": 0.8, "max_tokens": 7, "stop": ["\n"],
                                 "seed": 100, "repetition_penalty": 1.1, "presence_penalty": 0.5}
    assert inputs[0]["prompt_token_ids"] == tokenizer("first prompt")["input_ids"]
    assert [len(r) for r in results] == [2, 2, 2] and results[1][1].text.startswith("answer 1")
    assert results[0][0].prompt_tokens == len(inputs[0]["prompt_token_ids"]) and results[0][0].completion_tokens == 3
    assert results[0][0].cached_tokens == 2


def test_rendered_chat_prompt_gets_no_second_bos(fake_vllm):
    calls, tokenizer = fake_vllm
    backend = build_backend({"type": "vllm", "model": "some/model"})
    backend.chat([[{"role": "user", "content": "hi"}]], SamplingParams(max_tokens=4))
    _, inputs, vparams = [c for c in calls if c[0] == "generate"][-1]
    rendered = backend.render_chat([{"role": "user", "content": "hi"}])
    assert inputs[0]["prompt_token_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert "<|im_end|>" in vparams[0].kwargs["stop"]  # chat stops at the end of the assistant turn


def test_a_missing_finish_reason_stays_unknown(fake_vllm, monkeypatch):
    monkeypatch.setitem(FINISH, "reason", None)
    backend = build_backend({"type": "vllm", "model": "some/model"})
    [[out]] = backend.complete(["prompt"], SamplingParams(max_tokens=4))
    assert out.finish_reason is None and backend.usage.unknown_finish == 1
