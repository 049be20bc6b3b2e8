"""How fast one llama.cpp worker reads a prompt and how fast it writes, on the embedded SmolLM2-135M (Q4_1).

A generator that reads many prompt tokens for each token it writes (few-shot headers, passages) can only be as fast,
in completion tokens/s, as this ratio allows; benchmarks/generators.py compares the generators on that measure.
One LlamaCpp backend at its default settings for a worker (one thread, prompts read in 16-token chunks):
  read    a 512-token text from seeds/passages, from an empty cache, in the backend's chunks
  write   the next 128 tokens of that text, one token at a time as in generation (no sampling: greedy sampling
          adds about a millisecond a token)
Each is timed `--rounds` times (3), taking turns; the table gives the median. The same steps run once by one
worker alone and once by two worker processes side by side, each step started at the same time in both, as the
default pool runs on 2 cores (the `side by side` column is the median over both workers).

    python benchmarks/read_write_speed.py [--rounds 3] [--save]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from save import saved  # benchmarks/save.py

PASSAGES = Path(__file__).resolve().parents[1] / "seeds" / "passages" / "passages.jsonl"
READ, WRITE = 512, 128


def timed(backend, tokens: list[int], one_at_a_time: bool) -> float:
    llm = backend.llm
    llm.reset()
    llm.eval(tokens[:READ])  # the text before the written part (not timed when writing)
    if not one_at_a_time:
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens[:READ])
        return READ / (time.perf_counter() - start)
    start = time.perf_counter()
    for token in tokens[READ:READ + WRITE]:
        llm.eval([token])
    return WRITE / (time.perf_counter() - start)


def measure(rounds: int, together=None) -> list[tuple[float, float]]:
    """(read, write) tokens/s per round, in a fresh backend; `together` (a barrier) starts each step at the same
    time as the other workers."""
    from datagen.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(threads=1)
    text = " ".join(json.loads(line)["text"] for line in PASSAGES.read_text().splitlines() if line.strip())
    tokens = backend.llm.tokenize(text.encode("utf-8"))
    if len(tokens) < READ + WRITE:
        raise SystemExit(f"{PASSAGES} holds {len(tokens)} tokens; {READ + WRITE} are needed")
    rounds_out = []
    for _ in range(rounds):
        speeds = []
        for one_at_a_time in (False, True):
            if together is not None:
                together.wait()
            speeds.append(timed(backend, tokens, one_at_a_time))
        rounds_out.append((speeds[0], speeds[1]))
    backend.close()
    return rounds_out


def side_by_side(rounds: int, workers: int) -> list[tuple[float, float]]:
    """Every worker's rounds, the workers in processes of their own, as in the pool."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        together = manager.Barrier(workers)
        return [row for rows in pool.map(measure, [rounds] * workers, [together] * workers) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("read_write_speed", args.save):
        from datagen.backends.llamacpp import PREFIX_CHUNK

        alone, paired = measure(args.rounds), side_by_side(args.rounds, 2)
        (read, write), (read2, write2) = [[statistics.median(r[i] for r in rows) for i in (0, 1)]
                                          for rows in (alone, paired)]
        print(f"embedded SmolLM2-135M (llama.cpp), one worker alone and 2 workers side by side, 1 thread each, "
              f"{PREFIX_CHUNK}-token chunks; median of {args.rounds} round(s)\n")
        print("| step                               | tokens | alone tokens/s | side by side tokens/s (each) |")
        print("|------------------------------------|--------|----------------|------------------------------|")
        print(f"| read a prompt (empty cache)        | {READ:6d} | {read:14.1f} | {read2:28.1f} |")
        print(f"| write (one token at a time)        | {WRITE:6d} | {write:14.1f} | {write2:28.1f} |")
        print(f"\nread/write {read / write:.2f} alone, {read2 / write2:.2f} side by side")


if __name__ == "__main__":
    main()
