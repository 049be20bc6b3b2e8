"""Check a prompt-generator pipeline end to end: every kept record's parsed fields validate against the schema its
step declared, what was discarded and why, and a rerun with --restart answered wholly from the call cache.

Runs (or resumes) the pipeline, then reruns it with restart (the cache kept) and prints a Markdown report.

    python benchmarks/structured_check.py pipelines/structured.yaml [--output-dir outputs]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's datagen, run from anywhere
from datagen.config import load_config
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline
from datagen.structured import OutputSchema


def validate(folder: RunFolder) -> tuple[int, int]:
    """(records, records whose every step that declared a schema has fields that validate against it). The
    schema is read back from each record's provenance, so this checks what the record says it was made with."""
    total = valid = 0
    for record in folder.records():
        total += 1
        fields = record.metadata.get("fields", {})
        ok = True
        for step in record.provenance.generator_params.get("steps", []):
            if step.get("output_schema"):
                try:
                    OutputSchema(step["output_schema"]).model.model_validate(fields[step["name"]])
                except (KeyError, ValueError):
                    ok = False
        valid += ok
    return total, valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    overrides = {"output_dir": args.output_dir} if args.output_dir else None
    config = load_config(args.pipeline, overrides)

    started = time.perf_counter()
    first = run_pipeline(config, quiet=True, stages=False)
    first_seconds = time.perf_counter() - started
    total, valid = validate(RunFolder(first.path))
    started = time.perf_counter()
    again = run_pipeline(config, quiet=True, restart=True, stages=False)
    again_seconds = time.perf_counter() - started
    total_again, valid_again = validate(RunFolder(again.path))

    cores, load = os.cpu_count() or 1, os.getloadavg()[0]
    print(f"# {config.name}: structured output and the call cache\n")
    print(f"- command: `python benchmarks/structured_check.py {args.pipeline}`")
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {platform.machine()}, "
          f"{cores} cores, no GPU; load average {load:.1f} at the end"
          + (" (a busy machine: the seconds are not clean measurements)" if load > cores else "") + "\n")
    print("| run | records kept | fields valid against the schema | model inputs | from the cache | "
          "completion tokens | seconds |")
    print("|---|---|---|---|---|---|---|")
    for label, result, n, ok, secs in (("first (or resumed)", first, total, valid, first_seconds),
                                       ("rerun with --restart", again, total_again, valid_again, again_seconds)):
        stats = result.stats
        tokens = sum(g["completion_tokens"] for g in stats["generators"].values())
        print(f"| {label} | {n} | {ok} ({100 * ok / max(n, 1):.0f}%) | {stats['cache']['calls']} | "
              f"{stats['cache']['hits']} | {tokens} | {secs:.1f} |")
    print("\nDiscarded model answers (first run), by reason:\n")
    for name, g in first.stats["generators"].items():
        for reason, count in sorted(g["discarded"].items(), key=lambda kv: -kv[1]):
            print(f"- {name}: {reason}: {count}")


if __name__ == "__main__":
    main()
