"""Read labelled rows with the datasets library: a Hub dataset by name, or local CSV / JSON(L) / parquet files,
as they are published: columns renamed, labels mapped or shifted and header-less CSV/TSV named here, so that a
template file written for one copy of a dataset runs on another without editing either."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen import sources


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


def load_rows(source: DataSource, resolve: Callable[[str, str], Path], where: str) -> list[dict[str, Any]]:
    """All rows of the chosen split as plain dicts, adapted (renamed, relabelled). `resolve` finds files."""
    if source.hub:
        return adapt_rows(source, sources.hub_dataset(source.hub, source.subset, source.split).to_list(),
                          source.hub, where)
    splits = _local_splits(source, resolve, where)
    data = sources.local_dataset(splits, source.split, source.header, source.column_names, where)
    wanted = source.split.split("[")[0]
    return adapt_rows(source, data.to_list(), ",".join(str(p) for p in splits[wanted]), where)


def _local_splits(source: DataSource, resolve: Callable[[str, str], Path], where: str) -> dict[str, list[Path]]:
    splits = {split: [resolve(f, f"{where}.data_files") for f in files] for split, files in source.splits().items()}
    sources.file_type([p for files in splits.values() for p in files], where)
    return splits


def first_rows(source: DataSource, resolve: Callable[[str, str], Path], where: str,
               n: int = 5) -> list[tuple[str, list[dict[str, Any]]]]:
    """(file, its first `n` rows adapted) for each local file, read without loading the whole file; Hub
    datasets are not read (no network at validate time)."""
    if source.hub:
        return []
    return [(str(path), adapt_rows(source, sources.first_rows(path, n, source.header, source.column_names),
                                   str(path), where, check_labels=False))
            for path in [p for files in _local_splits(source, resolve, where).values() for p in files]]


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
