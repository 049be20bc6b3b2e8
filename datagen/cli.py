"""The `datagen` command. Each subcommand is a function taking its argv; `COMMANDS` maps names to them. The stage
commands (train, eval, publish, report) all run through pipeline.run_stage, with one option per field of the
stage's Params, the run's own block in config.yaml as the defaults and the flags given as overrides."""
from __future__ import annotations

import argparse
import errno
import importlib
import json
import sys
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel

from datagen.backends.base import BackendError
from datagen.config import ConfigError
from datagen.secrets import redact_text

# OSErrors that come from the user's files and folders, not from a bug
USER_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG}


def cmd_run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="datagen run", description="Run a pipeline YAML (resumes if interrupted).")
    parser.add_argument("pipeline", help="path to a pipeline YAML, e.g. pipelines/quickstart.yaml")
    parser.add_argument("--quiet", action="store_true", help="no progress bars; one summary line per step")
    parser.add_argument("--restart", action="store_true", help="delete this run's output and start over")
    parser.add_argument("--no-stages", action="store_true", help="generate and filter only")
    parser.add_argument("--no-cache", action="store_true", help="call the model for every input (no call cache)")
    parser.add_argument("--output-dir", help="override output_dir")
    parser.add_argument("--executor", choices=["local", "ray"], help="override executor")
    args = parser.parse_args(argv)

    from datagen.config import load_config
    from datagen.pipeline import run_pipeline

    overrides = {k: v for k, v in (("output_dir", args.output_dir), ("executor", args.executor)) if v}
    config = load_config(args.pipeline, overrides)
    if args.no_cache:
        config.cache.enabled = False
    result = run_pipeline(config, quiet=args.quiet, restart=args.restart, stages=not args.no_stages)
    stats = result.stats
    print(f"{config.name}: {stats['generated']} generated, {stats['kept']} kept, {stats['rejected']} rejected "
          f"-> {result.path}")
    if stats["cache"]["calls"]:
        print(f"  cache: {stats['cache']['hits']} of {stats['cache']['calls']} model inputs answered from the cache")
    for name, fs in stats["filters"].items():
        reasons = ", ".join(f"{r}: {n}" for r, n in list(fs["reasons"].items())[:3])
        print(f"  filter {name}: {fs['in']} in, {fs['out']} out" + (f" ({reasons})" if reasons else ""))
    for name, g in stats["generators"].items():
        if g.get("shortfall"):
            lost = ", ".join(f"{r}: {n}" for r, n in Counter(g["discarded"]).most_common(3))
            print(f"  generator {name}: {g['shortfall']} short of count {g['requested']} ({g['generated']} generated"
                  + (f"; discarded {lost})" if lost else ")"))
    for name, summary in result.stages.items():
        print(f"  stage {name}: {json.dumps(summary, default=str)[:200]}")
    return 0


def cmd_validate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="datagen validate", description="Check a pipeline YAML without running it.")
    parser.add_argument("pipeline")
    args = parser.parse_args(argv)
    from datagen.config import load_config
    from datagen.inputs import check_files, check_inputs

    config = load_config(args.pipeline)
    check_files(config)
    check_inputs(config)
    print(f"{args.pipeline}: ok ({len(config.generators)} generators, {len(config.filters)} filters, "
          f"stages: {', '.join(config.stages) or 'none'})")
    return 0


def cmd_list(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="datagen list", description="List backends, generators, filters, stages.")
    parser.parse_args(argv)
    from datagen.registry import BACKENDS, FILTERS, GENERATORS, STAGES

    for registry in (BACKENDS, GENERATORS, FILTERS, STAGES):
        print(f"{registry.kind}s: {', '.join(registry.names()) or '-'}")
    return 0


def cmd_export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="datagen export", description="Write kept records in a training format.")
    parser.add_argument("output_dir", help="a run folder, e.g. outputs/quickstart")
    parser.add_argument("--format", required=True, choices=["alpaca", "sharegpt", "messages", "prompt_completion"])
    parser.add_argument("--out", required=True, help="file to write (.jsonl; .json for a JSON array)")
    args = parser.parse_args(argv)
    from datagen.export import export_records

    count = export_records(args.output_dir, args.format, args.out)
    print(f"wrote {count} records to {args.out}")
    return 0


# -- stage commands: options generated from the stage's Params -----------------------------------------

def stage_options(parser: argparse.ArgumentParser, params: type[BaseModel],
                  aliases: dict[str, list[str]] | None = None) -> None:
    """One option per field, with no default of its own (the run's block and the Params give it): a bool as
    --packing / --no-packing; a list as --tags a,b, --tags a b or repeated; a dict or a list of blocks as JSON.
    `aliases`: field -> extra flags, e.g. {"exports": ["--export"]}."""
    for name, info in params.model_fields.items():
        flags = ["--" + name.replace("_", "-"), *(aliases or {}).get(name, [])]
        default = info.get_default(call_default_factory=True)
        help_text = f"{info.description or ''} (default: {default!r})".strip().replace("%", "%%")
        kind = _unwrap(info.annotation)
        if kind is bool:
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif typing.get_origin(kind) is list:
            parser.add_argument(*flags, dest=name, action="extend", nargs="+", default=None, metavar=name.upper(),
                                help=help_text)
        else:
            choices = typing.get_args(kind) if typing.get_origin(kind) is Literal else None
            parser.add_argument(*flags, dest=name, default=None, choices=choices, metavar=name.upper(),
                                help=help_text + (f"; one of {', '.join(choices)}" if choices else ""))


def stage_values(args: argparse.Namespace, params: type[BaseModel]) -> dict[str, Any]:
    """The fields given on the command line, as the Params would read them from YAML."""
    values: dict[str, Any] = {}
    for name, info in params.model_fields.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if isinstance(value, list):  # a list option: each value may hold several, comma-separated, or JSON
            value = [item for given in value for item in _list_items(given)]
        elif isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)  # a backend block, e.g. --judge-backend '{"type": "openai", ...}'
        elif isinstance(value, str) and "," in value and "list" in str(info.annotation):
            value = [v for v in value.split(",") if v]  # str | list[str], e.g. --target-modules q_proj,v_proj
        values[name] = value
    return values


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if is_union and len(args) == 1 else annotation


def _list_items(given: str) -> list[Any]:
    if given.startswith(("[", "{")):
        loaded = json.loads(given)
        return loaded if isinstance(loaded, list) else [loaded]
    return [v for v in given.split(",") if v]


@dataclass
class StageCommand:
    stage: str  # its name in STAGES and its block in the pipeline YAML
    description: str
    show: Callable[[dict[str, Any], Any], None]  # prints the stage's result (and its params)
    aliases: dict[str, list[str]] = field(default_factory=dict)


def show_summary(result: dict[str, Any], params: Any) -> None:
    headline = result.pop("headline", [])
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(headline))  # last: one `METRIC: base B tuned T n N` line per headline metric


def show_published(result: dict[str, Any], params: Any) -> None:
    splits = ", ".join(f"{k} {v}" for k, v in result["splits"].items())
    print(f"wrote {result['folder']} ({splits})")
    for fmt, e in result["exports"].items():
        print(f"  export {fmt}: {e['rows']} rows -> {e['path']}")
    if "uploaded" in result:
        print(f"uploaded to https://huggingface.co/datasets/{params.repo_id} ({result['uploaded']})")
    elif params.repo_id:
        print(f"dry run: not uploaded to {params.repo_id}")


def show_report(result: dict[str, Any], params: Any) -> None:
    print(f"wrote {result['html']} and {result['markdown']} ({len(result['charts'])} charts, "
          f"{result['records']} records, lengths in {result['length_unit']})")


STAGE_COMMANDS = {
    "train": StageCommand("train", "Fine-tune a model on a run folder's kept records (LoRA by default); writes "
                                   "OUTPUT_DIR/train/.", show_summary,
                          # the flags of the settings' earlier names still work
                          {"num_train_epochs": ["--epochs"], "per_device_train_batch_size": ["--batch-size"],
                           "gradient_accumulation_steps": ["--grad-accum"]}),
    "eval": StageCommand("evaluate", "Score the base and the tuned model (or --model FOLDER_OR_GGUF) on the run's "
                                     "evaluation suite (labelled tasks, IFEval, held-out records, judge); writes "
                                     "OUTPUT_DIR/eval/report.md and metrics.json and prints one line per headline "
                                     "metric last.", show_summary),
    "publish": StageCommand("publish", "Write a Hub dataset folder (parquet splits + card) and upload it.",
                            show_published, {"tags": ["--tag"], "exports": ["--export"]}),
    "report": StageCommand("report", "Write an HTML + Markdown report with charts.", show_report),
}


def stage_parser(command: str) -> tuple[argparse.ArgumentParser, type[BaseModel]]:
    from datagen.registry import STAGES

    spec = STAGE_COMMANDS[command]
    params = STAGES.get(spec.stage).Params
    parser = argparse.ArgumentParser(prog=f"datagen {command}", description=spec.description + " Options default "
                                     f"to the run's own `{spec.stage}:` block; flags given here override it.")
    parser.add_argument("output_dir", help="a run folder, e.g. outputs/quickstart")
    stage_options(parser, params, spec.aliases)
    return parser, params


def cmd_stage(command: str, argv: list[str]) -> int:
    from datagen.run_folder import RunFolder
    from datagen.pipeline import run_stage

    parser, params = stage_parser(command)
    args = parser.parse_args(argv)
    stage = STAGE_COMMANDS[command].stage
    block = {**RunFolder(args.output_dir).stage_block(stage), **stage_values(args, params)}
    result = run_stage(stage, block, Path(args.output_dir))
    STAGE_COMMANDS[command].show(result, params.model_validate(block))
    return 0


# name -> "module:function"; a new command is one function plus one line here
COMMANDS: dict[str, str | Callable[[list[str]], int]] = {
    "run": cmd_run,
    "validate": cmd_validate,
    "list": cmd_list,
    "export": cmd_export,
    "publish": partial(cmd_stage, "publish"),
    "report": partial(cmd_stage, "report"),
    "inspect": "datagen.report:cmd_inspect",
    "train": partial(cmd_stage, "train"),
    "eval": partial(cmd_stage, "eval"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: datagen COMMAND [args]   (datagen COMMAND --help for its options)\n\ncommands: "
              + ", ".join(COMMANDS))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    command = COMMANDS[argv[0]]
    if isinstance(command, str):
        module, _, attr = command.partition(":")
        command = getattr(importlib.import_module(module), attr)
    try:
        return command(argv[1:])
    except KeyboardInterrupt:
        print("interrupted (a rerun of the same command resumes)", file=sys.stderr)
        return 130
    except (ConfigError, ValueError, BackendError, *USER_OS_ERRORS) as err:
        return _user_error(err)
    except OSError as err:
        if err.errno in USER_ERRNOS:
            return _user_error(err)
        raise


def _user_error(err: BaseException) -> int:
    """One line (or one per problem) naming the file or key, no traceback; never a secret."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        message = f"{err.filename}: {err.strerror}"
    else:
        message = str(err) or type(err).__name__
    print(f"error: {redact_text(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
