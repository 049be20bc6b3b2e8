"""transformers: any model id or local folder (a GGUF file too, via gguf_file), CPU or GPU, batched with left padding.

Seeding: the whole batch shares one torch generator seeded from params.seed, so a result depends on the batch it
ran in (still reproducible for the same config and seed). presence_penalty is not supported by transformers and
is ignored.
A JSON schema (structured output) does not constrain decoding here; callers validate the answer.
"""
from __future__ import annotations

from datagen.backends.base import Completion, SamplingParams
from datagen.backends.tokenized import TokenizerBackend


class TransformersBackend(TokenizerBackend):
    name = "transformers"

    def __init__(self, model: str, gguf_file: str | None = None, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 16, chat_template: str | None = None, threads: int | None = None,
                 trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(model if not gguf_file else f"{model}/{gguf_file}")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code, **kwargs)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token  # generation only: training handles pad separately
        # `model` stays the id (provenance, logs, filters read it); the torch module is `lm`
        self.lm = AutoModelForCausalLM.from_pretrained(
            model, dtype=torch_dtype, trust_remote_code=trust_remote_code, **kwargs
        ).to(self.device).eval()
        self.template = chat_template or self.tokenizer.chat_template
        self.batch_size = batch_size

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        results: list[list[Completion]] = [[] for _ in prompts]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch_params = params.shifted(start)
            for index, choices in zip(chunk, self._generate([prompts[i] for i in chunk], batch_params)):
                results[index] = choices
        return results

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        torch, tok = self.torch, self.tokenizer
        bos = tok.bos_token or ""
        # a rendered chat prompt already holds BOS; plain prompts get the tokenizer's usual specials
        add_special = not (bos and all(p.startswith(bos) for p in prompts))
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=add_special).to(self.device)
        sample = params.temperature > 0
        gen_kwargs = dict(
            max_new_tokens=params.max_tokens,
            do_sample=sample,
            num_return_sequences=params.n,
            repetition_penalty=params.repetition_penalty,
            pad_token_id=tok.pad_token_id,
        )
        if sample:
            gen_kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            gen_kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.lm.generate(**enc, **gen_kwargs)
        prompt_len = enc["input_ids"].shape[1]
        eos_ids = {tok.eos_token_id, *tok.convert_tokens_to_ids([t for t in self.end_of_turn if t])}
        results = []
        for i in range(len(prompts)):
            n_prompt = int(enc["attention_mask"][i].sum())
            choices = []
            for j in range(params.n):
                ids = out[i * params.n + j, prompt_len:].tolist()
                ended = next((k for k, t in enumerate(ids) if t in eos_ids), None)
                if ended is not None:
                    ids = ids[:ended]
                text = tok.decode(ids, skip_special_tokens=False)
                text, hit_stop = _cut_at_stop(text, params.stop)
                reason = "stop" if ended is not None or hit_stop else "length"
                choices.append(Completion(text, reason, n_prompt, len(ids)))
            results.append(choices)
        return results

    def close(self) -> None:
        self.lm = None
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stops if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)
