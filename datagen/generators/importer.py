"""Import existing instruction datasets (Alpaca, ShareGPT, OpenAI messages, prompt/completion, Dolly, LIMA, Aya,
Super-NaturalInstructions task files) as records, so human-written data mixes with generated data and goes through
the same filters. No model involved.

Sources share `count` by examples-proportional mixing with a per-source cap (FLAN-style); a source never gives more
rows than it has, or than the cap.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from datagen import sources
from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.instruction_sets import EXTRA, NATIVE, detect, file_rows, to_record
from datagen.generators.helpers.mixing import FLAN_CAP, quotas, sample_rows
from datagen.records import Record

FORMAT_NAMES = ("auto", *NATIVE, *EXTRA)


class ImportSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="label in provenance and stats; defaults to the file stem / hub name")
    path: str | None = Field(None, description="local .json / .jsonl (parsed as is) or .csv / .tsv / .parquet file")
    hub: str | None = Field(None, description="Hub dataset name (networked nodes), read with datasets")
    subset: str | None = None
    split: str = "train"
    format: str = Field("auto", description=f"one of {', '.join(FORMAT_NAMES)}")
    task_type: str | None = Field(None, description="task cluster; default: the row's category, else 'imported'")
    cap: int | None = Field(None, ge=1, description="this source's cap; default: the generator's `cap`")
    positive_examples: int = Field(0, ge=0, description="Super-NaturalInstructions: solved examples to prepend")

    @field_validator("format")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FORMAT_NAMES:
            raise ValueError(f"unknown format {value!r}; choose one of {', '.join(FORMAT_NAMES)}")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> "ImportSource":
        if bool(self.path) == bool(self.hub):
            raise ValueError("give exactly one of `path` (a local file) or `hub` (a Hub dataset name)")
        return self

    def label(self) -> str:
        return self.name or (Path(self.path).stem if self.path else str(self.hub))


class ImportParams(GeneratorParams):
    sources: list[ImportSource] = Field(min_length=1)
    cap: int | None = Field(FLAN_CAP, ge=1, description="per-source cap in the mixing (None: no cap)")
    on_error: Literal["raise", "discard"] = Field(
        "raise", description="a row that does not parse: stop with an error, or count it as discarded")


class Importer(Generator):
    name = "import"
    Params = ImportParams

    def sources(self) -> list[tuple[ImportSource, list[dict], str | None, str]]:
        """(source, rows, format fixed by the file's shape or None, where-label) for each source, read once."""
        if not hasattr(self, "_sources"):
            self._sources = [self._read(src, i) for i, src in enumerate(self.params.sources)]
            names = [s.label() for s in self.params.sources]
            if len(set(names)) != len(names):
                raise ValueError(f"generator {self.ctx.name}: two sources share a name in {names}; set `name`")
        return self._sources

    def _read(self, src: ImportSource, index: int) -> tuple[ImportSource, list[dict], str | None, str]:
        where = f"generators.{self.ctx.name}.sources.{index}"
        if src.hub:
            return src, sources.hub_dataset(src.hub, src.subset, src.split).to_list(), None, src.hub
        path = self.ctx.resolve_path(src.path, f"{where}.path")
        rows, shape = file_rows(path, src.positive_examples, self.params.on_error == "discard", src.split, where)
        return src, rows, shape, str(path)

    def work_items(self) -> Sequence[tuple[int, int]]:
        if not hasattr(self, "_items"):
            data = self.sources()
            caps = [src.cap or self.params.cap for src, *_ in data]
            # per-source caps: clip each size first, then mix without a global cap
            sizes = {src.label(): min(len(rows), cap) if cap else len(rows)
                     for (src, rows, *_), cap in zip(data, caps)}
            share = quotas(sizes, self.ctx.count, cap=None, repeat=False)
            items = [(i, row) for i, (src, rows, *_) in enumerate(data)
                     for row, _ in sample_rows(len(rows), share[src.label()], self.ctx.seed, self.ctx.name,
                                               src.label())]
            random.Random(derive_seed(self.ctx.seed, self.ctx.name, "order")).shuffle(items)
            self._items = items
        return self._items

    def run_batch(self, items: Sequence[tuple[int, int]], batch: int) -> list[Record]:
        records = []
        for source, row in items:
            src, rows, shape, origin = self.sources()[source]
            if isinstance(rows[row], sources.BrokenLine):  # only kept with on_error: discard
                self.discard(f"{src.label()}: line not valid JSON")
                continue
            try:
                records.append(self.convert(src, rows[row], shape, row, batch))
            except (ValueError, KeyError, TypeError, ValidationError) as err:
                message = f"{origin} row {row}: cannot import as {src.format}: {_short(err)}"
                if self.params.on_error == "raise":
                    raise ValueError(message) from None
                self.discard(f"{src.label()}: unparseable row")
        return records

    def convert(self, src: ImportSource, row: dict, shape: str | None, index: int, batch: int | None = None) -> Record:
        if not isinstance(row, dict):
            raise TypeError(f"a row must be a JSON object, got {type(row).__name__}")
        fmt = shape or (detect(row) if src.format == "auto" else src.format)
        provenance = self.provenance(sources=[f"{src.label()}/{row.get('id', index)}"], batch=batch, format=fmt)
        record = to_record(row, fmt, provenance, task_type=src.task_type)
        record.task_type = record.task_type or "imported"
        record.category = record.category or src.label()
        record.tags.append(f"source:{src.label()}")
        return record


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
    return str(err)
