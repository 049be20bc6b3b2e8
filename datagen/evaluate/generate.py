"""Greedy generation with transformers for the base and the tuned model (base + adapter, or merged)."""
from __future__ import annotations

from typing import Any


def load_for_generation(model: str, adapter: str | None = None, prompt_style: str = "chat") -> tuple[Any, Any]:
    """(model, tokenizer). `model` may be 'embedded', 'gemma3-270m' or a .gguf file; with `adapter`, the LoRA
    adapter is applied on top and the adapter folder's tokenizer (with its pad token and template) is used.
    `prompt_style` alpaca gives the tokenizer the Alpaca template (as training did)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datagen.train.model import eos_ids, prepare_tokenizer, resolve_model

    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(adapter or path)
    added = prepare_tokenizer(tokenizer, prompt_style=prompt_style)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    net = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if added or len(tokenizer) > net.get_input_embeddings().weight.shape[0]:
        net.resize_token_embeddings(len(tokenizer))
    if adapter:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, adapter)
    net.generation_config.eos_token_id = eos_ids(tokenizer)
    net.generation_config.pad_token_id = tokenizer.pad_token_id
    return net.to("cuda" if torch.cuda.is_available() else "cpu").eval(), tokenizer


def generate(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch_size: int = 8
             ) -> list[dict[str, Any]]:
    """Greedy answers to single-turn prompts through the chat template: {text, tokens, stopped}; `stopped` is
    False when the answer ran into max_new_tokens without ending its turn."""
    import torch

    tokenizer.padding_side = "left"
    stop_ids = set(model.generation_config.eos_token_id or [])
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
    results: list[dict[str, Any]] = [{}] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": prompts[i]}], tokenize=False,
                                               add_generation_prompt=True) for i in chunk]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        for i, row in zip(chunk, out[:, batch["input_ids"].shape[1]:].tolist()):
            ends = [k for k, t in enumerate(row) if t in stop_ids]
            body = row[:ends[0]] if ends else row
            results[i] = {"text": tokenizer.decode(body, skip_special_tokens=True).strip(), "tokens": len(body),
                          "stopped": bool(ends)}
    return results
