"""Does reusing a prompt's cached prefix change the text llama.cpp generates, and how much time does it save?

Four jobs, answered one prompt after another in one process, greedy and sampled (temperature 0.8, one seed per
prompt): the peer job (chat template, a shared system-prompt head), Self-Instruct's classification prompts (a long
few-shot header shared by all), the same classification prompts alternating with Self-Instruct instance prompts
(two heads taking turns, as on a worker that classifies and expands) and Magpie (the same pre-query text every
time). Four ways:
  scratch, 512        reset before each prompt, evaluate it in chunks of 512 (one chunk here)
  no reset, 512       llama-cpp-python's own behaviour (bare llama.cpp, distilabel): it keeps the cache of the
                      longest prefix shared with the previous call and evaluates the rest as one chunk
  scratch, datagen    the LlamaCpp backend with nothing kept between prompts: each prompt evaluated in its chunks
                      (one after every blank line, one every 16 tokens after that)
  datagen             the LlamaCpp backend: the whole chunks shared with the previous prompt are reused from the
                      cache, and those shared with a saved state (a head that came back) from it
"differ" counts the answers that differ from the from-scratch answers in the same chunks: 0 means the reuse does
not change results. `datagen` should show 0; `no reset, 512` shows what naive reuse does.

    python benchmarks/prefix_reuse.py [--prompts 24] [--max-tokens 32] [--save]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from generation import peer_prompts  # benchmarks/generation.py
from save import saved  # benchmarks/save.py

WAYS = ("scratch, 512", "no reset, 512", "scratch, datagen", "datagen")


def run(backend, prompts: list[str], way: str, temperature: float, max_tokens: int) -> tuple[list[str], float]:
    from datagen.backends.base import SamplingParams

    llm = backend.llm

    def forget() -> None:
        llm.reset()
        backend.evaluated = 0
        backend.forget_states()

    forget()
    texts, start = [], time.perf_counter()
    for seed, prompt in enumerate(prompts):
        if way.startswith("scratch"):
            forget()
        if way.endswith("datagen"):
            params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
            texts.append(backend.complete([prompt], params)[0][0].text)
        else:
            out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=temperature, top_p=1.0, top_k=0,
                                        min_p=0.0, seed=seed)
            texts.append(out["choices"][0]["text"])
    return texts, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    from datagen.backends.llamacpp import LlamaCppBackend

    with saved("prefix_reuse", args.save):
        engines = {"512": LlamaCppBackend("embedded", prefix_chunk=512), "datagen": LlamaCppBackend("embedded")}
        print(f"max {args.max_tokens} new tokens, {args.prompts} prompts per job, one prompt at a time; "
              f"{engines['datagen'].threads} threads, {os.cpu_count()} cores\n")
        print("| job            | prompt tokens | shared head | decoding        | way              | differ   "
              "| seconds |")
        print("|----------------|---------------|-------------|-----------------|------------------|----------"
              "|---------|")
        for job, prompts in jobs(engines["datagen"], args.prompts).items():
            tokens = [engines["datagen"].llm.tokenize(p.encode(), special=True) for p in prompts]
            shared = next((i for i in range(min(map(len, tokens))) if len({t[i] for t in tokens}) > 1),
                          min(map(len, tokens)))
            size = f"{sum(map(len, tokens)) / len(tokens):13.0f} | {shared:11d}"
            for label, temperature in (("greedy", 0.0), ("temperature 0.8", 0.8)):
                reference = {}
                for way in WAYS:
                    chunk = way.split(", ")[-1]
                    texts, seconds = run(engines[chunk], prompts, way, temperature, args.max_tokens)
                    reference.setdefault(chunk, texts)
                    differ = sum(a != b for a, b in zip(texts, reference[chunk]))
                    print(f"| {job:<14} | {size} | {label:<15} | {way:<16} | {differ:>2} of {len(prompts):<2} "
                          f"| {seconds:7.2f} |")
        for engine in engines.values():
            engine.close()


def jobs(backend, n: int) -> dict[str, list[str]]:
    from datagen.generators.helpers import self_instruct_text as text

    def raw(prompt: str) -> str:  # without the BOS text: llama.cpp adds the BOS token itself
        return prompt[len(backend.bos_text):] if backend.bos_text and prompt.startswith(backend.bos_text) else prompt

    chat = [raw(backend.render_chat([{"role": "user", "content": p}])) for p in peer_prompts(n)]
    classify = [text.classify_prompt(f"Task number {i}: {q}") for i, q in enumerate(peer_prompts(n))]
    seeds = text.load_seed_tasks(Path(__file__).resolve().parents[1] / "seeds" / "self_instruct_seeds.jsonl")
    demos = [s for s in seeds if s.instances and not s.is_classification][:2]
    expand = [text.instance_prompt(q, demos, False) for q in peer_prompts(n)]
    alternating = [p for pair in zip(classify, expand) for p in pair][:n]
    pre_query = raw(backend.render_chat([{"role": "user", "content": "SENTINEL"}]).split("SENTINEL")[0])
    return {"peer job": chat, "SI classify": classify, "SI alternating": alternating, "Magpie": [pre_query] * n}


if __name__ == "__main__":
    main()
