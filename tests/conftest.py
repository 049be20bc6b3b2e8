import os

import pytest

# tests never reach a hub: everything they use is on disk or built from a config
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedded_backend():
    """One in-process llama.cpp engine on the embedded SmolLM2 GGUF, shared by the whole test session."""
    from datagen.backends import build_backend

    backend = build_backend({"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 2})
    yield backend
    backend.close()


@pytest.fixture
def run_in(tmp_path, monkeypatch):
    """Run inside a temporary folder (outputs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny randomly initialised Llama model with the embedded model's real tokenizer and chat template,
    saved to a folder (no hub access)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from datagen.backends.embedded import embedded_gguf

    gguf = embedded_gguf()
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def recorded_backend(embedded_backend, monkeypatch):
    """The embedded engine, with what it is asked and what it answers recorded in call order: (inputs, replies),
    one reply text per input of every chat() and complete() call."""
    inputs, replies = [], []
    for method in ("chat", "complete"):
        def recorded(items, params, _call=getattr(embedded_backend, method)):
            results = _call(items, params)
            inputs.extend(items)
            replies.extend(choices[0].text for choices in results)
            return results
        monkeypatch.setattr(embedded_backend, method, recorded)
    return embedded_backend, inputs, replies
