"""Generation speed: the bare llama.cpp backend vs the datagen pipeline on the same job.

The job: N distinct prompts answered greedily by the embedded SmolLM2-135M, at most 64 new tokens each.
Rows (each includes loading the model):
  bare backend, 1 process       one llama.cpp engine, all cores as threads, one chat() call
  pipeline, 1 worker            `datagen run` machinery (answer generator, shards, stats), same engine setup
  pipeline, default (auto)      the same pipeline with the default parallel setting (workers: auto)
The first pipeline row measures what the runner adds (target: at most 10% over bare); the last measures the
parallel default (targets: at least 1.3x bare, at least 550 records/min on 2 cores).

    python benchmarks/generation.py [--prompts 128] [--max-tokens 64]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from save import saved  # benchmarks/save.py

SUBJECTS = ["the ocean", "a bicycle", "coffee", "the moon", "a library", "winter", "honeybees", "a volcano"]
ASKS = ["Write one sentence about {}.", "Give a fun fact about {}.", "Describe {} to a child.",
        "Name three words related to {}.", "Write a short poem about {}.", "Why do people like {}?",
        "What is the history of {}?", "Give a tip related to {}.", "Compare {} with a mountain.",
        "Write a question about {}.", "Explain {} in simple terms.", "Write a slogan about {}.",
        "List two colours you associate with {}.", "Tell a one-line joke about {}.",
        "Write a headline about {}.", "Summarize what you know about {}."]


def prompts(n: int) -> list[str]:
    all_prompts = [ask.format(s) for s in SUBJECTS for ask in ASKS]
    return [all_prompts[i % len(all_prompts)] + ("" if i < len(all_prompts) else f" ({i})") for i in range(n)]


def bare(instructions: list[str], max_tokens: int) -> tuple[float, int]:
    from datagen.backends import SamplingParams, build_backend

    start = time.perf_counter()
    backend = build_backend({"type": "llamacpp", "model": "embedded", "workers": 1})
    results = backend.chat([[{"role": "user", "content": p}] for p in instructions],
                           SamplingParams(temperature=0, max_tokens=max_tokens))
    seconds = time.perf_counter() - start
    backend.close()
    return seconds, sum(c[0].completion_tokens for c in results)


def pipeline(instructions: list[str], max_tokens: int, workers: int | str) -> tuple[float, int, int]:
    from datagen.config import validate_config
    from datagen.pipeline import run_pipeline

    with tempfile.TemporaryDirectory() as out:
        config = validate_config({
            "name": "bench", "output_dir": out, "seed": 0,
            "backend": {"type": "llamacpp", "model": "embedded", "workers": workers},
            "generators": [{"type": "answer", "instructions": instructions, "count": len(instructions),
                            "temperature": 0.0, "max_tokens": max_tokens}],
        })
        start = time.perf_counter()
        result = run_pipeline(config, quiet=True)
        seconds = time.perf_counter() - start
        gen = result.stats["generators"]["answer"]
        from datagen.backends import resolve_workers

        used = resolve_workers(config.backend.model_dump())[0]
        return seconds, gen["completion_tokens"], used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("generation", args.save):
        instructions = prompts(args.prompts)
        n = len(instructions)
        from datagen.backends.embedded import embedded_gguf

        embedded_gguf().read_bytes()  # warm the page cache so the first row does not pay for the disk

        rows = []
        secs, tokens = bare(instructions, args.max_tokens)
        rows.append(("bare backend, 1 process", 1, secs, tokens))
        secs1, tokens1, _ = pipeline(instructions, args.max_tokens, 1)
        rows.append(("pipeline, 1 worker", 1, secs1, tokens1))
        secs_auto, tokens_auto, used = pipeline(instructions, args.max_tokens, "auto")
        rows.append(("pipeline, default (auto)", used, secs_auto, tokens_auto))

        print(f"{n} prompts, greedy, max {args.max_tokens} new tokens, embedded SmolLM2-135M (llama.cpp), "
              f"{os.cpu_count()} cores\n")
        print(f"| {'setup':<26} | workers | seconds | tokens/s | records/min | vs bare |")
        print(f"|{'-' * 28}|---------|---------|----------|-------------|---------|")
        for name, workers, s, t in rows:
            print(f"| {name:<26} | {workers:>7} | {s:7.2f} | {t / s:8.1f} | {n / s * 60:11.0f} "
                  f"| {rows[0][2] / s:6.2f}x |")
        print(f"\npipeline overhead at 1 worker: {(secs1 / secs - 1) * 100:+.1f}% (target: at most +10%)")
        print(f"default setting vs bare: {secs / secs_auto:.2f}x (target: at least 1.3x); "
              f"{n / secs_auto * 60:.0f} records/min on this job")


if __name__ == "__main__":
    main()
