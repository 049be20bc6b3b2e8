"""Records as one parquet table with a fixed schema (nested dicts as JSON text, so every shard fits)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from datagen.records import Record

SCHEMA = pa.schema([
    ("id", pa.string()),
    ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
    ("task_type", pa.string()),
    ("category", pa.string()),
    ("generator", pa.string()),
    ("model", pa.string()),
    ("tags", pa.list_(pa.string())),
    ("scores", pa.string()),  # JSON: score names vary per run, and datasets has no map type
    ("provenance", pa.string()),
    ("verdicts", pa.string()),
    ("metadata", pa.string()),
])


def record_row(r: Record) -> dict:
    return {
        "id": r.id,
        "messages": [m.model_dump() for m in r.messages],
        "task_type": r.task_type,
        "category": r.category,
        "generator": r.provenance.generator,
        "model": r.provenance.model,
        "tags": r.tags,
        "scores": json.dumps(r.scores),
        "provenance": r.provenance.model_dump_json(),
        "verdicts": json.dumps([v.model_dump() for v in r.verdicts]),
        "metadata": json.dumps(r.metadata, default=str),
    }


_SCALARS = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}


def _flat_fields(record: Record) -> dict[str, object]:
    """Parsed fields of a prompt generator's steps (metadata["fields"]: step -> field -> value) as step.field."""
    steps = record.metadata.get("fields") or {}
    return {f"{step}.{name}": value for step, fields in steps.items() for name, value in fields.items()}


def with_fields(records: Iterable[Record], schema: pa.Schema = SCHEMA,
                row: Callable[[Record], dict] = record_row) -> tuple[pa.Schema, Callable[[Record], dict]]:
    """`schema` and `row` plus one column per parsed field found in `records`: a field whose values share one
    scalar type keeps it (ints with floats become floats); any other is JSON text."""
    kinds: dict[str, set] = {}
    for record in records:
        for name, value in _flat_fields(record).items():
            kinds.setdefault(name, set()).add(type(value))
    types = {}
    for name, seen in kinds.items():
        seen = ({float} if seen - {type(None)} == {int, float} else seen) - {type(None)}
        types[name] = _SCALARS[next(iter(seen))] if len(seen) == 1 and next(iter(seen)) in _SCALARS else None
    if not types:
        return schema, row

    def with_columns(record: Record) -> dict:
        values = _flat_fields(record)
        extra = {n: values.get(n) if t is not None or values.get(n) is None else json.dumps(values[n])
                 for n, t in types.items()}
        return {**row(record), **extra}

    columns = [pa.field(n, t if t is not None else pa.string()) for n, t in types.items()]
    return pa.schema([*schema, *columns]), with_columns


def write_parquet(records: Iterable[Record], path: Path, batch_size: int = 5000, schema: pa.Schema = SCHEMA,
                  row: Callable[[Record], dict] = record_row) -> int:
    """Stream records into `path` (written to a temporary name, then renamed). Returns the row count.
    `schema` and `row` let a caller lay the columns out differently (e.g. the Hub folder's typed scores)."""
    tmp = path.with_name(f".tmp-{path.name}")
    count, rows = 0, []
    with pq.ParquetWriter(tmp, schema) as writer:
        for record in records:
            rows.append(row(record))
            if len(rows) >= batch_size:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                count, rows = count + len(rows), []
        if rows or count == 0:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            count += len(rows)
    tmp.replace(path)
    return count
