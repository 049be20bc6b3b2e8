"""Rows from the data people give: local JSONL, JSON (a list of rows), CSV, TSV and parquet files, a folder written
by `datasets`' save_to_disk, or a Hugging Face Hub dataset id.

Every problem names the file, and the line or row where there is one: a line that is not JSON, a file that is not
UTF-8, an empty file, a folder given as a file, a file type we do not read. A missing local file is an error here,
never a Hub lookup: only `dataset(..., hub_fallback=True)` treats a name that is no local path (and has no data file
suffix) as a Hub id.
"""
from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Iterator

# the datasets builder that reads each local file type
BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
TEXT_TYPES = (".jsonl", ".json", ".csv", ".tsv")
SAVED_MARKERS = ("dataset_info.json", "dataset_dict.json")  # what save_to_disk writes (a Dataset / a DatasetDict)


class SourceError(ValueError):
    """A data source is unusable; the message names the file (and line or row)."""


class BrokenLine(str):
    """Stands in the rows for a .jsonl line that is not JSON (with keep_broken): the problem, as text."""


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in SAVED_MARKERS)


def check_file(path: Path) -> None:
    """A local data file exists, is a file and is not empty."""
    if path.is_dir():
        raise SourceError(f"{path} is a folder, not a file")
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty")


def builder(path: Path) -> str:
    """The datasets builder for a local file, by its suffix."""
    kind = BUILDERS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(f"{path}: unknown data file type {path.suffix!r}; use one of {', '.join(BUILDERS)} "
                    f"or a folder written by save_to_disk")
    return kind


def read_text(path: Path, error: type[ValueError] = SourceError) -> str:
    if path.is_dir():
        raise error(f"{path} is a folder, not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start}: {err.object[err.start:err.start + 1]!r})") from None


def json_lines(path: str | Path, error: type[ValueError] = SourceError,
               keep_broken: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) for each non-blank line. A line that is not JSON raises `error` naming file and
    line, or with `keep_broken` comes as a BrokenLine for the caller to count."""
    path = Path(path)
    for n, line in enumerate(read_text(path, error).splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as err:
            problem = f"{path}: line {n}: not valid JSON ({err})"
            if not keep_broken:
                raise error(problem) from None
            yield n, BrokenLine(problem)


def jsonl_rows(path: str | Path, error: type[ValueError] = SourceError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object raises `error`."""
    for n, row in json_lines(path, error):
        if not isinstance(row, dict):
            raise error(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
        yield n, row


def read_json(path: Path, error: type[ValueError] = SourceError) -> Any:
    """A whole-file JSON document."""
    try:
        return json.loads(read_text(path, error))
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON ({err})") from None


def csv_options(path: Path, header: bool = True, column_names: list[str] | None = None) -> dict[str, Any]:
    """datasets / csv options. TSV files are read unquoted, as GLUE and most TSV corpora are written (a leading '"'
    is text)."""
    tsv = path.suffix.lower() == ".tsv"
    return {"delimiter": "\t" if tsv else ",", "quoting": csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
            "column_names": column_names, "header": 0 if header else None}


def _check_text(path: Path) -> None:
    """Fail early, naming the file, where datasets would fail deep inside its builder."""
    if path.suffix.lower() == ".jsonl":
        for _ in json_lines(path):
            pass
    elif path.suffix.lower() == ".json":
        read_json(path)
    elif path.suffix.lower() in TEXT_TYPES:
        read_text(path)


def file_type(paths: list[Path], where: str = "source") -> str:
    """The datasets builder shared by local files (CSV and TSV read differently, so they do not mix); `where` (a
    config key) prefixes the error."""
    kinds = {"tsv" if p.suffix.lower() == ".tsv" else BUILDERS.get(p.suffix.lower()) for p in paths}
    if None in kinds or len(kinds) != 1:
        raise SourceError(f"{where}.data_files: files must share one of the types {sorted(BUILDERS)}; "
                          f"got {[p.name for p in paths]}")
    return builder(paths[0])


def local_dataset(splits: dict[str, list[Path]], split: str = "train", header: bool = True,
                  column_names: list[str] | None = None, where: str = "source") -> Any:
    """One split of local files of one type ({split name: files}) as a datasets Dataset; `split` may be sliced,
    e.g. 'train[:200]'. `where` (a config key) prefixes errors about the split and the file types."""
    import datasets

    paths = [p for files in splits.values() for p in files]
    kind = file_type(paths, where)
    wanted = split.split("[")[0]
    if wanted not in splits:
        raise SourceError(f"{where}.split: no split {wanted!r} among the local files (splits: {sorted(splits)})")
    for path in splits[wanted]:
        check_file(path)
        _check_text(path)
    options = csv_options(paths[0], header, column_names) if kind == "csv" else {}
    datasets.disable_progress_bars()
    return datasets.load_dataset(kind, data_files={s: [str(p) for p in f] for s, f in splits.items()}, split=split,
                                 **options)


def hub_dataset(name: str, subset: str | None = None, split: str = "train") -> Any:
    import datasets

    return datasets.load_dataset(name, subset, split=split)


def local_or_hub(value: str, resolve: Callable[[str], Path] | None = None) -> str | Path:
    """The local path `value` names (found by `resolve`, e.g. next to the config file, when relative), else `value`
    itself, to be read as a Hub id."""
    path = Path(value).expanduser()
    if resolve is not None and not path.is_absolute():
        try:
            return resolve(value)
        except (OSError, ValueError):
            return value  # not a local path: a Hub id
    return path if path.exists() else value


def dataset(source: str | Path, split: str = "train", subset: str | None = None, hub_fallback: bool = False) -> Any:
    """A datasets Dataset from a saved folder (its `split` when it holds several), a local file (all of it is the
    "train" split), or, with `hub_fallback`, a Hub id (its `subset` and `split`) when `source` is no local path."""
    import datasets

    path = Path(source).expanduser()
    if is_saved_dataset(path):
        data = datasets.load_from_disk(str(path))
        if isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise SourceError(f"{path}: no split {split!r} (splits: {sorted(data)})")
            data = data[split]
        return data
    if hub_fallback and not path.exists() and path.suffix.lower() not in BUILDERS:
        return hub_dataset(str(source), subset, split)  # a name with a data file suffix is a missing local file
    check_file(path)
    builder(path)
    return local_dataset({"train": [path]})


def rows(source: str | Path, keep_broken: bool = False) -> list:
    """The rows of a local file or saved folder as plain values. JSON and JSONL rows are taken as written (each line
    its own value; a .json file must hold a list); other types go through `dataset`."""
    path = Path(source).expanduser()
    if is_saved_dataset(path):
        return dataset(path).to_list()
    suffix = path.suffix.lower()
    check_file(path)
    builder(path)
    if suffix == ".jsonl":
        return [row for _, row in json_lines(path, keep_broken=keep_broken)]
    if suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise SourceError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
        return data
    return dataset(path).to_list()


def first_rows(path: Path, n: int = 5, header: bool = True, column_names: list[str] | None = None) -> list[dict]:
    """The first `n` rows of a local file, read without loading the whole file."""
    kind = builder(path)
    if kind == "csv":
        options = csv_options(path, header, column_names)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, delimiter=options["delimiter"], quoting=options["quoting"])
            first = next(reader, []) if header else []
            names = column_names or first
            return [dict(zip(names, values)) for values in itertools.islice(reader, n)]
    if kind == "parquet":
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=n), None)
        return batch.to_pylist() if batch is not None else []
    if path.suffix.lower() == ".jsonl":
        return [row for _, row in itertools.islice(json_lines(path), n)]
    data = read_json(path)
    return (data if isinstance(data, list) else [data])[:n]
