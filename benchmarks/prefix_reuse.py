"""Does llama.cpp's prompt-prefix reuse change the text it generates?

The LlamaCpp backend calls llm.reset() before every prompt, so each prompt is evaluated from scratch. Without it,
llama-cpp-python keeps the KV cache of the longest token prefix shared with the previous prompt and evaluates only
the rest. This script answers two jobs' prompts four ways and counts the answers that differ from the from-scratch
ones, greedy and sampled (temperature 0.8, one seed per prompt). The jobs: the peer job (chat template, a shared
system-prompt head), Self-Instruct list-continuation prompts (8 seed instructions each, a shared header) and Magpie
(the same pre-query prompt every time, so the whole prompt is the head).
  from scratch        reset, evaluate the whole prompt (what the backend does)
  no reset            the prompts one after another without reset (the cache holds the previous prompt)
  head, then rest     reset, evaluate the shared head alone, then the rest: the same ubatch shapes as the next row
  cached head         the head evaluated once; each prompt truncates the cache back to it and evaluates the rest

    python benchmarks/prefix_reuse.py [--prompts 24] [--max-tokens 32] [--save]
"""
from __future__ import annotations

import argparse
import os
import random
import time

from generation import peer_prompts  # benchmarks/generation.py
from save import saved  # benchmarks/save.py


def answer(llm, prompt: str, temperature: float, seed: int, max_tokens: int) -> str:
    out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=temperature, top_p=1.0, top_k=0,
                                min_p=0.0, seed=seed)
    return out["choices"][0]["text"]


def run(backend, prompts: list[str], head: list[int], how: str, temperature: float, max_tokens: int):
    llm = backend.llm
    llm.reset()
    if how == "cached head":
        llm.eval(head)
    texts, start = [], time.perf_counter()
    for seed, prompt in enumerate(prompts):
        if how in ("from scratch", "head, then rest"):
            llm.reset()
        if how == "head, then rest":
            llm.eval(head)
        if how == "cached head":
            llm.n_tokens = len(head)  # keep only the head in the cache; create_completion drops the rest
            # the current logits belong to the last generated token: without this, a prompt that is all head
            # (Magpie) is sampled from them (llama-cpp-python 0.3.36 marks this itself only when it truncates)
            llm._requires_eval = True
        texts.append(answer(llm, prompt, temperature, seed, max_tokens))
    return texts, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    from datagen.backends.llamacpp import LlamaCppBackend

    with saved("prefix_reuse", args.save):
        backend = LlamaCppBackend("embedded")
        print(f"max {args.max_tokens} new tokens; llama.cpp n_batch 512, {backend.threads} threads, "
              f"{os.cpu_count()} cores\n")
        print("| job           | prompt tokens | shared head | decoding        | evaluation      | differing | seconds |")
        print("|---------------|---------------|-------------|-----------------|-----------------|-----------|---------|")
        for job, prompts in jobs(backend, args.prompts).items():
            tokens = [backend.llm.tokenize(p.encode(), add_bos=True, special=True) for p in prompts]
            shared = next((i for i in range(min(map(len, tokens))) if len({t[i] for t in tokens}) > 1),
                          min(map(len, tokens)))
            head = tokens[0][:shared]
            size = f"{sum(map(len, tokens)) / len(tokens):13.0f} | {shared:11d}"
            for label, temperature in (("greedy", 0.0), ("temperature 0.8", 0.8)):
                reference, _ = run(backend, prompts, head, "from scratch", temperature, args.max_tokens)
                for how in ("from scratch", "no reset", "head, then rest", "cached head"):
                    texts, seconds = run(backend, prompts, head, how, temperature, args.max_tokens)
                    differ = sum(a != b for a, b in zip(texts, reference))
                    print(f"| {job:<13} | {size} | {label:<15} | {how:<15} | {differ:>3} of {len(prompts):<3} "
                          f"| {seconds:7.2f} |")
        backend.close()


def jobs(backend, n: int) -> dict[str, list[str]]:
    from datagen.config import PROJECT_ROOT
    from datagen.generators.helpers import self_instruct_text as text

    chat = [backend.render_chat([{"role": "user", "content": p}]) for p in peer_prompts(n)]
    chat = [p[len(backend.bos_text):] if backend.bos_text and p.startswith(backend.bos_text) else p for p in chat]
    seeds = [s.instruction for s in text.load_seed_tasks(PROJECT_ROOT / "seeds" / "self_instruct_seeds.jsonl")]
    rng = random.Random(0)
    lists = [text.bootstrap_prompt(rng.sample(seeds, 8)) for _ in range(n)]
    pre_query = backend.render_chat([{"role": "user", "content": "SENTINEL"}]).split("SENTINEL")[0]
    pre_query = pre_query[len(backend.bos_text):] if backend.bos_text else pre_query
    return {"peer job": chat, "Self-Instruct": lists, "Magpie": [pre_query] * n}


if __name__ == "__main__":
    main()
