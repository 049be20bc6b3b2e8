"""How fast one llama.cpp worker reads a prompt and how fast it writes, on the embedded SmolLM2-135M (Q4_1).

A generator that reads many prompt tokens for each token it writes (few-shot headers, passages) can only be as fast,
in completion tokens/s, as this ratio allows; benchmarks/generators.py compares the generators on that measure.
One LlamaCpp backend at its default settings for a worker (one thread, prompts read in 16-token chunks):
  read    a 512-token text from seeds/passages, from an empty cache, in the backend's chunks
  write   the next 128 tokens of that text, one token at a time as in generation (no sampling: greedy sampling
          adds about a millisecond a token)
Each is timed `--rounds` times (3), taking turns; the table gives the median.

    python benchmarks/read_write_speed.py [--rounds 3] [--save]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("read_write_speed", args.save):
        from datagen.backends.llamacpp import LlamaCppBackend

        backend = LlamaCppBackend(threads=1)
        text = " ".join(json.loads(line)["text"] for line in PASSAGES.read_text().splitlines() if line.strip())
        tokens = backend.llm.tokenize(text.encode("utf-8"))
        if len(tokens) < READ + WRITE:
            raise SystemExit(f"{PASSAGES} holds {len(tokens)} tokens; {READ + WRITE} are needed")
        rounds = [(timed(backend, tokens, False), timed(backend, tokens, True)) for _ in range(args.rounds)]
        read, write = (statistics.median(r[i] for r in rounds) for i in (0, 1))
        print(f"embedded SmolLM2-135M (llama.cpp), one worker, 1 thread, {backend.chunk}-token chunks; "
              f"median of {args.rounds} round(s)\n")
        print("| step                               | tokens | tokens/s |")
        print("|------------------------------------|--------|----------|")
        print(f"| read a prompt (empty cache)        | {READ:6d} | {read:8.1f} |")
        print(f"| write (one token at a time)        | {WRITE:6d} | {write:8.1f} |")
        print(f"\nread/write {read / write:.2f}")
        backend.close()


if __name__ == "__main__":
    main()
