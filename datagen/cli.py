"""The `datagen` command. Each subcommand is a function taking its argv; `COMMANDS` maps names to them."""
from __future__ import annotations

import argparse
import errno
import importlib
import json
import sys
from collections import Counter
from typing import Callable

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


# name -> "module:function"; a new command is one function plus one line here
COMMANDS: dict[str, str | Callable[[list[str]], int]] = {
    "run": cmd_run,
    "validate": cmd_validate,
    "list": cmd_list,
    "export": cmd_export,
    "publish": "datagen.publish:cmd_publish",
    "report": "datagen.report:cmd_report",
    "inspect": "datagen.report:cmd_inspect",
    "train": "datagen.train.cli:cmd_train",
    "eval": "datagen.train.cli:cmd_eval",
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
