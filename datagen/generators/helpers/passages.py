"""Unannotated passages for text-to-task generators: a folder of .txt/.md files, a JSONL file, or a dataset
read through the datasets library (local data files, a folder written by save_to_disk, or a Hub name).

Every problem names the file and line (or dataset and row): an empty or missing text is an error, never a skip.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen import sources

TEXT_SUFFIXES = (".txt", ".md")


class PassageError(ValueError):
    """A passage source is unusable; the message says where."""


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    domain: str | None = None


def _check_text(value: Any, where: str, field: str) -> str:
    if value is None:
        raise PassageError(f"{where}: no {field!r} field")
    if not isinstance(value, str):
        raise PassageError(f"{where}: {field!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise PassageError(f"{where}: {field!r} is empty")
    return value.strip()


def read_folder(folder: Path) -> list[Passage]:
    """Every .txt/.md file below `folder`; a file in a subfolder takes the subfolder's name as its domain."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise PassageError(f"{folder}: no .txt or .md files found")
    passages = []
    for path in files:
        rel = path.relative_to(folder)
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise PassageError(f"{path}: the file is empty")
        domain = rel.parts[0] if len(rel.parts) > 1 else None
        passages.append(Passage(str(rel.with_suffix("")), text.strip(), domain))
    return passages


def read_jsonl(path: Path, text_field: str = "text", id_field: str | None = None,
               domain_field: str | None = "domain") -> list[Passage]:
    passages = []
    for n, row in sources.jsonl_rows(path, PassageError):
        passages.append(_from_row(row, f"{path}: line {n}", f"{path.name}:{n}", text_field, id_field, domain_field))
    if not passages:
        raise PassageError(f"{path}: no passages (the file is empty)")
    return passages


def _from_row(row: dict, where: str, default_id: str, text_field: str, id_field: str | None,
              domain_field: str | None) -> Passage:
    text = _check_text(row.get(text_field), where, text_field)
    if id_field is not None and row.get(id_field) in (None, ""):
        raise PassageError(f"{where}: no {id_field!r} field (set id_field to null to number rows instead)")
    pid = str(row[id_field]) if id_field is not None else default_id
    domain = row.get(domain_field) if domain_field else None
    return Passage(pid, text, str(domain) if domain not in (None, "") else None)


def read_dataset(source: str, text_field: str = "text", id_field: str | None = None,
                 domain_field: str | None = "domain", split: str = "train", config_name: str | None = None,
                 resolve: Any = None) -> list[Passage]:
    rows = sources.dataset(sources.local_or_hub(source, resolve), split, config_name, hub_fallback=True)
    columns = list(rows.column_names)
    for field in (text_field, id_field):
        if field is not None and field not in columns:
            raise PassageError(f"dataset {source}: no column {field!r}; columns are {', '.join(columns)}")
    passages = [_from_row(row, f"dataset {source}: row {i}", f"{Path(source).name}:{split}:{i}",
                          text_field, id_field, domain_field if domain_field in columns else None)
                for i, row in enumerate(rows)]
    if not passages:
        raise PassageError(f"dataset {source}: split {split!r} has no rows")
    return passages


def read_passages(path: Path, **fields: Any) -> list[Passage]:
    """A folder of text files or a JSONL file."""
    if path.is_dir():
        return read_folder(path)
    if path.suffix.lower() == ".jsonl":
        return read_jsonl(path, **fields)
    raise PassageError(f"{path}: give a folder of .txt/.md files or a .jsonl file "
                       f"(other data files go through `dataset:`)")
