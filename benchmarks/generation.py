"""Generation speed on the peer's job: bare llama.cpp, the datagen pipeline at its default settings and, when its
virtualenv is given, distilabel's TextGeneration (../shared/peers/peer_distilabel.py), all in one run.

The job is the peer script's own: its 128 prompts, answered greedily by the embedded SmolLM2-135M, at most 64 new
tokens each. The prompts are written to a file that all three read. Rows:
  bare llama.cpp     the peer script's `bare` mode in this venv: one Llama, create_chat_completion per prompt
                     (model load excluded)
  datagen default    `datagen run` with the answer generator and default backend settings (model load included)
  distilabel         the peer script's `distilabel` mode in PEER_PYTHON (model load included)

Every setup runs `--rounds` times (3), the setups taking turns; the table gives the median and each round.

    python benchmarks/generation.py [--prompts 128] [--peer-python /path/to/peer-venv/bin/python] [--rounds 3]
                                    [--save]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from save import saved  # benchmarks/save.py

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "peer_distilabel.py"
MAX_TOKENS = 64  # fixed inside the peer script
TOPICS = ["cooking", "physics", "history", "music", "gardening", "finance", "travel", "chess"]


def peer_prompts(n: int) -> list[str]:
    """The peer script's own prompt list."""
    return [f"Write one short question a curious person might ask about {TOPICS[i % 8]} (variant {i})."
            for i in range(n)]


def run_peer_script(python: str, mode: str, prompts_file: str, n: int) -> dict:
    out = subprocess.run([python, str(PEER), str(n), mode, prompts_file], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{PEER.name} {mode} with {python} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def datagen_default(prompts: list[str]) -> tuple[float, int, int]:
    from datagen.config import validate_config
    from datagen.pipeline import run_pipeline

    with tempfile.TemporaryDirectory() as out:
        config = validate_config({
            "name": "bench", "output_dir": out, "seed": 0, "backend": {"type": "llamacpp", "model": "embedded"},
            "generators": [{"type": "answer", "instructions": prompts, "count": len(prompts),
                            "temperature": 0.0, "max_tokens": MAX_TOKENS}],
        })
        start = time.perf_counter()
        result = run_pipeline(config, quiet=True)
        seconds = time.perf_counter() - start
        gen = result.stats["generators"]["answer"]
        return seconds, gen["generated"], gen["completion_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--peer-python", help="python of a virtualenv with distilabel 1.5.3 (see the peer script)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every setup this many times, taking turns; the table gives the median")
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("generation", args.save), tempfile.TemporaryDirectory() as tmp:
        prompts = peer_prompts(args.prompts)
        prompts_file = os.path.join(tmp, "prompts.json")
        Path(prompts_file).write_text(json.dumps(prompts))

        def bare() -> tuple[float, int, int | None]:
            out = run_peer_script(sys.executable, "bare", prompts_file, len(prompts))
            return out["seconds"], out["n"], out["tokens"]

        def peer() -> tuple[float, int, int | None]:
            out = run_peer_script(args.peer_python, "distilabel", prompts_file, len(prompts))
            return out["seconds"], out["rows"], None

        setups = {"bare llama.cpp": bare, "datagen default": lambda: datagen_default(prompts)}
        if args.peer_python:
            setups["distilabel 1.5.3"] = peer
        # the setups take turns, so a drift in this machine's speed reaches all of them alike
        runs: dict[str, list[tuple[float, int, int | None]]] = {name: [] for name in setups}
        for _ in range(args.rounds):
            for name, run in setups.items():
                runs[name].append(run())

        print(f"{len(prompts)} prompts (the peer script's), greedy, max {MAX_TOKENS} new tokens, "
              f"embedded SmolLM2-135M (llama.cpp), {os.cpu_count()} cores; median of {args.rounds} rounds\n")
        print("| setup            | seconds | records | completion tokens | records/min | each round (s)         |")
        print("|------------------|---------|---------|-------------------|-------------|------------------------|")
        per_min = {}
        for name, done in runs.items():
            seconds = statistics.median(s for s, _, _ in done)
            _, records, tokens = done[0]
            per_min[name] = records / seconds * 60
            rounds = " ".join(f"{s:.2f}" for s, _, _ in done)
            print(f"| {name:<16} | {seconds:7.2f} | {records:7d} | {tokens if tokens is not None else 'n/a':>17} "
                  f"| {per_min[name]:11.1f} | {rounds:<22} |")
        print(f"\nours/bare {per_min['datagen default'] / per_min['bare llama.cpp']:.2f}")
        if args.peer_python:
            print(f"ours/peer {per_min['datagen default'] / per_min['distilabel 1.5.3']:.2f}")


if __name__ == "__main__":
    main()
