"""Per-generator speed on the embedded SmolLM2-135M (llama.cpp, default backend settings).

Each built-in generator runs as configured in its example pipeline (pipelines/*.yaml, first generator block),
with no filters, in a fresh run whose engine is loaded (and warmed with one short call per worker) before the clock
starts, as the bare llama.cpp row of benchmarks/generation.py excludes model load. Each model generator makes about
a minute's worth of records, several batches: in a run of a dozen records, the one-time reading of Self-Instruct's
few-shot headers (330 prompt tokens for classification, on each worker) outweighs its steady pace.
Columns:
  completion tok/s, prompt tok/s   token totals over generation seconds, as in stats.json
  read/token                       prompt tokens the engine read (not taken from its cache of earlier prompts) per
                                   completion token: the work that makes a generator slower than Magpie
  records/min                      records generated over the run's generation wall time
  model share                      seconds inside backend complete()/chat() calls over that wall time
  vs magpie                        completion tok/s over Magpie's in the same round
Model-free generators (templates, identity, import) have no token columns. With `--rounds N` every generator runs
N times, the generators taking turns, and each cell is the median of its N values. The `vs magpie` cell is the
median of the per-round ratios: runs of one round are minutes apart, so a drift in this machine's speed (a third
within an hour, at times) cancels out of a ratio taken within a round, not out of a ratio of two medians. The
per-round ratios follow the table. The last line is the lowest `vs magpie` cell.

    python benchmarks/generators.py [--rounds 1] [--save]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import yaml
from save import saved  # benchmarks/save.py

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
# generator -> (example pipeline, count); about a minute each on 2 cores for the model generators
JOBS = {
    "magpie": ("magpie.yaml", 48),
    "self_instruct": ("self-instruct.yaml", 48),
    "evol_instruct": ("evol.yaml", 32),
    "bonito": ("bonito.yaml", 48),
    "answer": ("answer-cpu.yaml", 48),
    "templates": ("templates.yaml", 160),
    "identity": ("templates.yaml", 14),
    "import": ("import.yaml", 40),
}
MODEL_FREE = {"templates", "identity", "import"}


class ModelClock:
    """Adds up the seconds in which at least one Backend.complete / Backend.chat call is running: batches made side
    by side overlap, and nested calls (chat inside complete) count once."""

    def __init__(self) -> None:
        from datagen.backends.base import Backend

        self.seconds, self.active, self.since, self.lock = 0.0, 0, 0.0, threading.Lock()
        for name in ("complete", "chat"):
            setattr(Backend, name, self._timed(getattr(Backend, name)))

    def _timed(self, method):
        def timed(backend, *args, **kwargs):
            with self.lock:
                if self.active == 0:
                    self.since = time.perf_counter()
                self.active += 1
            try:
                return method(backend, *args, **kwargs)
            finally:
                with self.lock:
                    self.active -= 1
                    if self.active == 0:
                        self.seconds += time.perf_counter() - self.since
        return timed


def run_one(generator: str, clock: ModelClock) -> dict:
    from datagen.backends.base import SamplingParams
    from datagen.config import load_config
    from datagen.pipeline import Runner

    file, count = JOBS[generator]
    pipeline = PIPELINES / file
    block = next(g for g in yaml.safe_load(pipeline.read_text())["generators"] if g["type"] == generator)
    with tempfile.TemporaryDirectory() as out:
        config = load_config(pipeline, {"output_dir": out, "filters": [], "generators": [{**block, "count": count}],
                                        "cache": {"enabled": False}})
        runner = Runner(config, quiet=True)
        try:
            if generator not in MODEL_FREE:  # load the model in every worker before the clock starts
                engine = runner.backends.factory(config.backend)()
                engine.complete(["Hello"] * 8 * getattr(engine, "workers", 1), SamplingParams(max_tokens=16))
            clock.seconds = 0.0
            start = time.perf_counter()
            stats = runner.generate()
            wall = time.perf_counter() - start
        finally:
            runner.close()
    stats = next(iter(stats["generators"].values()))
    gen_seconds = stats["seconds"] or 1e-9
    return {"generator": generator, "model": generator not in MODEL_FREE,
            "records": stats["generated"], "wall": wall,
            "completion_tps": stats["completion_tokens"] / gen_seconds,
            "prompt_tps": stats["prompt_tokens"] / gen_seconds,
            "read_per_token": (stats["prompt_tokens"] - stats["cached_prompt_tokens"]) /
                              max(stats["completion_tokens"], 1),
            "records_per_min": stats["generated"] / wall * 60, "model_share": clock.seconds / wall}


def median_row(rows: list[dict]) -> dict:
    """One generator's rounds -> the median of every number."""
    return {key: statistics.median(r[key] for r in rows) if isinstance(value, (int, float)) and
            not isinstance(value, bool) else value for key, value in rows[0].items()}


def per_round(runs: list[list[dict]], i: int) -> list[float]:
    """Generator `i`'s completion tok/s over Magpie's, in each round."""
    return [rnd[i]["completion_tps"] / next(r for r in rnd if r["generator"] == "magpie")["completion_tps"]
            for rnd in runs]


def vs_magpie(runs: list[list[dict]]) -> list[float]:
    """Rounds of rows -> per generator, the median over rounds of its completion tok/s over Magpie's that round."""
    return [statistics.median(per_round(runs, i)) for i in range(len(runs[0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="runs per generator, taking turns; medians")
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("generators", args.save):
        from datagen.backends.embedded import embedded_gguf

        embedded_gguf().read_bytes()  # warm the page cache so the first row does not pay for the disk
        clock = ModelClock()
        runs = [[run_one(name, clock) for name in JOBS] for _ in range(args.rounds)]
        rows = [median_row([r[i] for r in runs]) for i in range(len(JOBS))]
        for row, ratio in zip(rows, vs_magpie(runs)):
            row["vs_magpie"] = ratio
        print("embedded SmolLM2-135M (llama.cpp), default backend settings, one fresh run per generator and round, "
              f"model load excluded; median of {args.rounds} round(s)\n")
        print("| generator     | records | seconds | completion tok/s | prompt tok/s | read/token | vs magpie "
              "| records/min | model share |")
        print("|---------------|---------|---------|------------------|--------------|------------|-----------"
              "|-------------|-------------|")
        for r in rows:
            tokens = (f"{r['completion_tps']:16.1f} | {r['prompt_tps']:12.1f} | {r['read_per_token']:10.2f} | "
                      f"{r['vs_magpie']:9.2f}" if r["model"] else
                      f"{'model-free':>16} | {'-':>12} | {'-':>10} | {'-':>9}")
            print(f"| {r['generator']:<13} | {r['records']:7g} | {r['wall']:7.1f} | {tokens} "
                  f"| {r['records_per_min']:11.1f} | {r['model_share']:10.0%} |")
        if args.rounds > 1:  # the spread behind each median
            print("\nvs magpie per round:")
            for i, row in enumerate(rows):
                if row["model"]:
                    print(f"  {row['generator']:<13} " + " ".join(f"{ratio:.2f}" for ratio in per_round(runs, i)))
        model_rows = [r for r in rows if r["model"]]
        slowest = min(model_rows, key=lambda r: r["vs_magpie"])
        print(f"\nslowest model generator: {slowest['generator']}")
        print(f"slowest/magpie {slowest['vs_magpie']:.2f}")


if __name__ == "__main__":
    main()
