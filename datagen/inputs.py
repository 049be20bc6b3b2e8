"""The input files a pipeline names: finding them in its generator, filter and stage blocks, checking them before
a run (all problems at once), and hashing their contents into the config hash."""
from __future__ import annotations

import codecs
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from datagen.config import ConfigError, PipelineConfig, params_model, resolve_path
from datagen.registry import FILTERS, GENERATORS, STAGES, Registry
from datagen.secrets import without_secrets

# keys of generator / filter / stage blocks that name input files (FOLDER_KEYS may also name a folder)
FILE_KEYS = {"file", "seed_file", "path", "templates", "data_files", "benchmarks", "fasttext_model",
             "ifeval_prompts"}
FOLDER_KEYS = {"passages", "data"}


def _named_files(data: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(key path, key name, value) for every file named under a file key, at any depth."""
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{where}.{k}"
            if k in FILE_KEYS | FOLDER_KEYS and v is not None:
                # a name, a list of names, or a mapping {split: name or names}
                items = (list(v.items()) if isinstance(v, dict) else list(enumerate(v)) if isinstance(v, list)
                         else [(None, v)])
                for label, item in items:
                    key = here if label is None else f"{here}.{label}"
                    names = list(enumerate(item)) if isinstance(item, list) else [(None, item)]
                    for j, name in names:
                        if isinstance(name, str):
                            yield (key if j is None else f"{key}.{j}"), k, name
            else:
                yield from _named_files(v, here)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _named_files(v, f"{where}.{i}")


def _params_dump(registry: Registry, type_name: str, params: dict) -> dict:
    """A plugin block with its defaults filled in (defaults name bundled files too)."""
    try:
        return params_model(registry.get(type_name)).model_validate(params).model_dump(mode="json")
    except (KeyError, ValidationError):
        return params


def input_files(config: PipelineConfig, kinds: tuple[str, ...] = ("generators", "filters", "stages")
                ) -> Iterator[tuple[str, str, str, Path | None]]:
    """(key path, key name, value, resolved path or None when not found) for every input file the config names."""
    blocks: list[tuple[str, dict]] = []
    if "generators" in kinds:
        blocks += [(f"generators.{s.name}", _params_dump(GENERATORS, s.type, s.params)) for s in config.generators]
    if "filters" in kinds:
        blocks += [(f"filters.{s.name}", _params_dump(FILTERS, s.type, s.params)) for s in config.filters]
    if "stages" in kinds:
        blocks += [(name, _params_dump(STAGES, name, block)) for name, block in config.stages.items()]
    for where, params in blocks:
        for key, name, value in _named_files(params, where):
            try:
                yield key, name, value, resolve_path(value, config, key)
            except ConfigError:
                yield key, name, value, None


def check_files(config: PipelineConfig) -> None:
    """Every input file the config names exists (and is a file where a file is needed); all problems at once."""
    problems = []
    for key, name, value, path in input_files(config):
        if path is None:
            problems.append(f"{key}: file not found: {value}")
        elif path.is_dir() and name not in FOLDER_KEYS:
            problems.append(f"{key}: {value} is a folder, not a file")
        elif path.is_file() and path.stat().st_size == 0:
            problems.append(f"{key}: {path}: the file is empty")
        elif path.is_file() and path.suffix.lower() in TEXT_SUFFIXES and (bad := _not_utf8(path)):
            problems.append(f"{key}: {path}: not UTF-8 text ({bad})")
    if problems:
        where = f"{config.source}: " if config.source else ""
        raise ConfigError("\n".join(where + p for p in problems))


TEXT_SUFFIXES = {".txt", ".jsonl", ".json", ".yaml", ".yml", ".csv", ".tsv", ".md"}


def _not_utf8(path: Path) -> str | None:
    """Where a text file stops being UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                return f"byte {offset + err.start}"
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"byte {offset}: cut short"
    return None


def file_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a folder (with their relative names)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path)).encode() if path.is_dir() else b"")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def check_inputs(config: PipelineConfig) -> None:
    """Let generators that can check their input files do so (e.g. the columns their templates read); for
    `datagen validate`, which otherwise only checks the YAML."""

    def resolve(value: str, key: str) -> Path:
        return resolve_path(value, config, key)

    for spec in config.generators:
        cls = GENERATORS.get(spec.type)
        if hasattr(cls, "check_inputs"):
            cls.check_inputs(cls.Params.model_validate(spec.params), resolve, f"{config.source}: generators.{spec.name}")


def fingerprint(config: PipelineConfig) -> str:
    """Hash of what decides the generated records, including the contents of the input files they read; a
    resumed run must match it. Secrets (and where they come from) do not decide the records."""
    data = without_secrets(config.model_dump(include={"seed", "backend", "generators", "filters"}))
    data["inputs"] = {key: file_digest(path) for key, _, _, path
                      in input_files(config, kinds=("generators", "filters")) if path is not None}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
