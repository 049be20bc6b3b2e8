"""Read labelled rows with the datasets library: a Hub dataset by name, or local CSV / JSON(L) / parquet files,
as they are published: columns renamed, labels mapped or shifted and header-less CSV/TSV named here, so that a
template file written for one copy of a dataset runs on another without editing either."""
from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


class DataSource(BaseModel):
    """Where the rows come from: `hub` (+ `subset`) on a networked node, or local `data_files`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="label used in provenance; defaults to the file stem or hub name")
    hub: str | None = Field(None, description="Hub dataset name, e.g. ag_news")
    subset: str | None = Field(None, description="Hub dataset configuration")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None, description="local CSV / JSON / JSONL / parquet file(s); a mapping {split: file(s)} names the splits")
    split: str = Field("train", description="split to read; slices such as 'train[:200]' work")
    header: bool = Field(True, description="CSV/TSV: the first line names the columns; false: give column_names")
    column_names: list[str] | None = Field(None, description="CSV/TSV column names (required when header: false)")
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="rename columns: {name in the data: name the templates use}")
    label_map: dict[str | int, str | int] | None = Field(
        None, description="replace `label` values: {value in the data: value the templates use}")
    label_offset: int = Field(0, description="added to integer labels, e.g. -1 for classes numbered from 1")

    @model_validator(mode="after")
    def _one_origin(self) -> "DataSource":
        if bool(self.hub) == bool(self.data_files):
            raise ValueError("give exactly one of `hub` (a Hub dataset name) or `data_files` (local files)")
        if not self.header and not self.column_names:
            raise ValueError("header: false needs column_names (the CSV/TSV columns in order)")
        return self

    def splits(self) -> dict[str, list[str]]:
        """Local files by split; files given without a split form "train"."""
        files = self.data_files or []
        by_split = files if isinstance(files, dict) else {"train": files}
        return {split: [f] if isinstance(f, str) else list(f) for split, f in by_split.items()}

    def files(self) -> list[str]:
        return [f for files in self.splits().values() for f in files]

    def label(self) -> str:
        if self.name:
            return self.name
        return self.hub if self.hub else Path(self.files()[0]).stem


def _csv_options(source: DataSource, path: Path) -> dict[str, Any]:
    """TSV files are read unquoted, as GLUE and most TSV corpora are written (a leading '"' is text)."""
    tsv = path.suffix.lower() == ".tsv"
    return {"delimiter": "\t" if tsv else ",", "quoting": csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL}


def load_rows(source: DataSource, resolve: Callable[[str, str], Path], where: str) -> list[dict[str, Any]]:
    """All rows of the chosen split as plain dicts, adapted (renamed, relabelled). `resolve` finds files."""
    import datasets

    if source.hub:
        data = datasets.load_dataset(source.hub, source.subset, split=source.split)
        return adapt_rows(source, data.to_list(), source.hub, where)
    splits = _local_splits(source, resolve, where)
    paths = [p for files in splits.values() for p in files]
    builder = BUILDERS[paths[0].suffix.lower()]
    options: dict[str, Any] = {}
    if builder == "csv":
        options = {**_csv_options(source, paths[0]), "column_names": source.column_names,
                   "header": 0 if source.header else None}
    wanted = source.split.split("[")[0]
    if wanted not in splits:
        raise ValueError(f"{where}.split: no split {wanted!r} among the local files (splits: {sorted(splits)})")
    data = datasets.load_dataset(builder, data_files={s: [str(p) for p in f] for s, f in splits.items()},
                                 split=source.split, **options)
    return adapt_rows(source, data.to_list(), ",".join(str(p) for p in splits[wanted]), where)


def _local_splits(source: DataSource, resolve: Callable[[str, str], Path], where: str) -> dict[str, list[Path]]:
    splits = {split: [resolve(f, f"{where}.data_files") for f in files] for split, files in source.splits().items()}
    paths = [p for files in splits.values() for p in files]
    kinds = {BUILDERS.get(p.suffix.lower()) for p in paths}
    if None in kinds or len(kinds) != 1:
        raise ValueError(f"{where}.data_files: files must share one of the types {sorted(BUILDERS)}; "
                         f"got {[p.name for p in paths]}")
    return splits


def first_rows(source: DataSource, resolve: Callable[[str, str], Path], where: str,
               n: int = 5) -> list[tuple[str, list[dict[str, Any]]]]:
    """(file, its first `n` rows adapted) for each local file, read without loading the whole file; Hub
    datasets are not read (no network at validate time)."""
    if source.hub:
        return []
    out = []
    for path in [p for files in _local_splits(source, resolve, where).values() for p in files]:
        kind = BUILDERS[path.suffix.lower()]
        if kind == "csv":
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh, **_csv_options(source, path))
                header = next(reader, []) if source.header else []
                names = source.column_names or header
                rows = [dict(zip(names, values)) for values in itertools.islice(reader, n)]
        elif kind == "parquet":
            import pyarrow.parquet as pq

            rows = next(pq.ParquetFile(path).iter_batches(batch_size=n), None)
            rows = rows.to_pylist() if rows is not None else []
        elif path.suffix.lower() == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                rows = [json.loads(line) for line in itertools.islice((ln for ln in fh if ln.strip()), n)]
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = (data if isinstance(data, list) else [data])[:n]
        out.append((str(path), adapt_rows(source, rows, str(path), where, check_labels=False)))
    return out


def adapt_rows(source: DataSource, rows: list[dict[str, Any]], origin: str, where: str,
               check_labels: bool = True) -> list[dict[str, Any]]:
    """Rename columns, then map and shift `label`. A renamed column the data lacks, or a label value outside
    label_map, is an error naming the file (and row)."""
    if rows and set(source.columns) - set(rows[0]):
        raise ValueError(f"{where}.columns: {origin} has no column(s) {sorted(set(source.columns) - set(rows[0]))} "
                         f"(columns: {sorted(rows[0])})")
    mapping = {str(k): v for k, v in (source.label_map or {}).items()}
    out = []
    for i, row in enumerate(rows):
        row = {source.columns.get(k, k): v for k, v in row.items()}
        if "label" in row and mapping:
            if str(row["label"]) not in mapping:
                if check_labels:
                    raise ValueError(f"{where}.label_map: {origin} row {i}: label {row['label']!r} is not mapped "
                                     f"(label_map keys: {sorted(mapping)})")
            else:
                row["label"] = mapping[str(row["label"])]
        if source.label_offset and isinstance(row.get("label"), int):
            row["label"] += source.label_offset
        out.append(row)
    return out
