"""Records/s of one pipeline under the local executor and under `executor: ray` with 1 and 2 actors.

Same config everywhere: the embedded model, the `answer` generator over seeds/instructions.txt, greedy, 64 new
tokens, 32 prompts. Engine start-up (model load, Ray actors) is timed apart from generation; a local Ray
instance is started once and its start time printed. Usage: python benchmarks/ray_scaling.py [--prompts 32]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datagen.backends.base import SamplingParams, Usage  # noqa: E402
from datagen.config import validate_config  # noqa: E402
from datagen.pipeline import Runner  # noqa: E402
from save import saved  # noqa: E402  (benchmarks/save.py)


def config(executor: str, workers: int | str, prompts: int, max_tokens: int, output: str):
    return validate_config({
        "name": f"bench-{executor}-{workers}", "seed": 1, "output_dir": output, "executor": executor,
        "ray": {"workers": workers},
        "backend": {"type": "llamacpp", "model": "embedded"},
        "generators": [{"type": "answer", "file": "seeds/instructions.txt", "count": prompts, "batch_size": 16,
                        "temperature": 0.0, "max_tokens": max_tokens}],
    })


def warm_up(engine) -> None:
    """One token per worker, so process start and model load land in start-up, not in generation."""
    chats = [[{"role": "user", "content": "Hi"}]] * (2 * getattr(engine, "workers", 1))
    engine.chat(chats, SamplingParams(temperature=0.0, max_tokens=1))
    engine.usage = Usage()


def measure(cfg) -> dict[str, float]:
    runner = Runner(cfg, quiet=True, restart=True)
    try:
        t0 = time.perf_counter()
        engine = runner.backends.factory(cfg.backend)()
        warm_up(engine)
        t1 = time.perf_counter()
        stats = runner.generate()
        t2 = time.perf_counter()
    finally:
        runner.close()
    return {"workers": getattr(engine, "workers", 1), "startup": t1 - t0, "seconds": t2 - t1,
            "records": stats["generated"], "tokens": engine.usage.completion_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("ray_scaling", args.save):
        import ray

        rows = []
        with tempfile.TemporaryDirectory() as out:
            local = config("local", "auto", args.prompts, args.max_tokens, out)
            rows.append(("local (worker pool, auto)", measure(local)))
            t0 = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     object_store_memory=256 * 1024**2,
                     runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}})
            ray_start = time.perf_counter() - t0
            try:
                for workers in (1, 2):
                    rows.append((f"ray, {workers} actor(s)", measure(config("ray", workers, args.prompts,
                                                                            args.max_tokens, out))))
            finally:
                ray.shutdown()

        print(f"{args.prompts} prompts, greedy, max {args.max_tokens} new tokens, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}; local Ray instance start: {ray_start:.1f} s")
        print("| executor | workers | start-up s | generate s | records/s | tokens/s |")
        print("|---|---|---|---|---|---|")
        for label, m in rows:
            print(f"| {label} | {m['workers']} | {m['startup']:.1f} | {m['seconds']:.1f} | "
                  f"{m['records'] / m['seconds']:.2f} | {m['tokens'] / m['seconds']:.0f} |")


if __name__ == "__main__":
    main()
