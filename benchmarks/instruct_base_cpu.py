"""Does datagen data make a base model follow instructions? Runs pipelines/instruct-base-cpu.yaml from scratch
(`datagen run --restart --no-cache`: no model answer comes from an earlier run's call cache) - generate, filter,
train Gemma 3 270M base with LoRA and three ablations, evaluate base vs tuned - and prints the wall clock, where
the time went, the kept records, `datagen eval`'s headline lines and the evaluation report (every rate with n and
a 95% interval).

The pipeline scores the first 16 IFEval prompts, to stay within its 30 minutes on 2 CPU cores. `--ifeval-all`
then scores base and tuned (no ablations) on all 541 official prompts with `datagen eval --folder eval-ifeval-all`
and prints that report too.

Needs `pip install -e '.[gemma]'` (Gemma terms of use) and ../shared/data. Under 30 minutes on 2 CPU cores;
--ifeval-all adds about as much again (see benchmarks/results/instruct_base_cpu.md).

    python benchmarks/instruct_base_cpu.py [--ifeval-all] [--save]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from save import saved  # benchmarks/save.py

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "instruct-base-cpu.yaml"
RUN = ROOT / "outputs" / "instruct-base-cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    parser.add_argument("--ifeval-all", action="store_true", help="then score base and tuned on all IFEval prompts")
    args = parser.parse_args()
    datagen = str(Path(sys.executable).with_name("datagen"))
    with saved("instruct_base_cpu", args.save):
        start = time.perf_counter()
        run = subprocess.run([datagen, "run", str(PIPELINE), "--restart", "--no-cache", "--quiet"], cwd=ROOT,
                             capture_output=True, text=True)
        wall = time.perf_counter() - start
        if run.returncode != 0:
            sys.exit(f"datagen run failed:\n{run.stderr[-3000:]}")
        stats = json.loads((RUN / "stats.json").read_text())
        train = json.loads((RUN / "stages" / "train.json").read_text())
        main_run = json.loads((RUN / "train" / "config.json").read_text())["summary"]
        evaluate = json.loads((RUN / "stages" / "evaluate.json").read_text())
        print(f"`datagen run {PIPELINE.relative_to(ROOT)} --restart --no-cache`: wall clock {wall / 60:.1f} min\n")
        print("| step | seconds |\n|---|---|")
        for name, gen in stats["generators"].items():
            print(f"| generate {name}: {gen['generated']} generated, {gen['kept']} kept | {gen['seconds']:.1f} |")
        for name, summary in {"main run": main_run, **train.get("ablations", {})}.items():
            print(f"| train: {name}, {summary['steps']} steps, {summary['train_tokens_per_s']} tokens/s "
                  f"| {summary['seconds']:.1f} |")
        print(f"| train stage in all (model preparation, merges and the runs above) | {train['seconds']:.1f} |")
        print(f"| evaluate: base, tuned and {len(train.get('ablations', {}))} ablations | {evaluate['seconds']:.1f} |")
        print(f"\n{stats['generated']} records generated, {stats['kept']} kept; {train['train_records']} train, "
              f"{train['validation_records']} validation\n")
        # the lines `datagen eval` prints last (stages/evaluate.json keeps them)
        print("headline lines:\n\n```text\n" + "\n".join(evaluate["headline"]) + "\n```\n")
        report = (RUN / "eval" / "report.md").read_text().split("![metrics]")[0]
        title = "## Evaluation report (outputs/instruct-base-cpu/eval/report.md)"
        print(report.replace("# Evaluation: base vs tuned", title))
        if args.ifeval_all:
            ifeval_all(datagen)


def ifeval_all(datagen: str) -> None:
    """Base and tuned on every official IFEval prompt, nothing else (no tasks, no ablations)."""
    folder = "eval-ifeval-all"
    command = [datagen, "eval", str(RUN.relative_to(ROOT)), "--folder", folder, "--ifeval-limit", "541",
               "--no-ablations", "--tasks", "[]"]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"datagen eval failed:\n{run.stderr[-3000:]}")
    shown = " ".join(c if c != "[]" else "'[]'" for c in command[1:])
    print(f"\n`datagen {shown}`: {(time.perf_counter() - start) / 60:.1f} min; it printed last:\n")
    headline = [line for line in run.stdout.splitlines() if re.fullmatch(r"\w+: base \S+ tuned \S+ n \d+", line)]
    print("```text\n" + "\n".join(headline) + "\n```\n")
    report = (RUN / folder / "report.md").read_text().split("![metrics]")[0]
    title = f"## Evaluation report (outputs/instruct-base-cpu/{folder}/report.md)"
    print(report.replace("# Evaluation: base vs tuned", title))


if __name__ == "__main__":
    main()
