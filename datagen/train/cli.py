"""`datagen train OUTPUT_DIR` and `datagen eval OUTPUT_DIR`: a stage's Params as command-line options
(--lora-r 8, --holdout-task-types qa,math, --no-packing ...)."""
from __future__ import annotations

import argparse
import json
import typing
from typing import Any

from datagen.stages import StageParams


def _options(parser: argparse.ArgumentParser, params: type[StageParams]) -> None:
    for name, field in params.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = f"{field.description or ''} (default: {field.default!r})".strip()
        if field.annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, default=None, metavar=name.upper(), help=help_text)


def _values(args: argparse.Namespace, params: type[StageParams]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in params.model_fields.items():
        value = getattr(args, name)
        if value is None:
            continue
        if isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)  # a backend block, e.g. --judge-backend '{"type": "openai", ...}'
        elif isinstance(value, str) and (typing.get_origin(field.annotation) is list or
                                         ("list" in str(field.annotation) and "," in value)):
            value = [v for v in value.split(",") if v]
        values[name] = value
    return values


def _run(stage: str, argv: list[str], description: str) -> int:
    from datagen.pipeline import run_stage
    from datagen.registry import STAGES

    cls = STAGES.get(stage)
    parser = argparse.ArgumentParser(prog=f"datagen {'eval' if stage == 'evaluate' else stage}",
                                     description=description)
    parser.add_argument("output_dir", help="a run folder, e.g. outputs/full-cpu")
    _options(parser, cls.Params)
    args = parser.parse_args(argv)
    # the run's own block (same tasks, same decoding) is the default; flags override it
    block = {**_run_block(args.output_dir, stage), **_values(args, cls.Params)}
    result = run_stage(stage, block, args.output_dir)
    headline = result.pop("headline", [])
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(headline))  # last: one `METRIC: base B tuned T n N` line per headline metric
    return 0


def _run_block(output_dir: str, stage: str) -> dict[str, Any]:
    from datagen.output import RunFolder

    return RunFolder(output_dir).stage_block(stage)


def cmd_train(argv: list[str]) -> int:
    return _run("train", argv, "Fine-tune a model on a run folder's kept records (LoRA by default); "
                               "writes OUTPUT_DIR/train/.")


def cmd_eval(argv: list[str]) -> int:
    return _run("evaluate", argv, "Score the base and the tuned model (or --model FOLDER_OR_GGUF) on the run's "
                                  "evaluation suite (labelled tasks, IFEval, held-out records, judge); writes "
                                  "OUTPUT_DIR/eval/report.md and metrics.json and prints one line per headline "
                                  "metric last.")
