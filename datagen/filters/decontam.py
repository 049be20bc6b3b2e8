"""Benchmark decontamination: reject records that share a word n-gram with a benchmark prompt.

Benchmarks are local files (JSONL, JSON, parquet, CSV or TSV, see datagen.sources); each row's text fields are
normalized and cut into n-grams (13 words as in GPT-3, 8 as in newer work). A benchmark item shorter than n words
counts as one gram, so it matches only when it appears whole (below `min_words` it is skipped). The reject names the file and the row (or its id).
"""
from __future__ import annotations

from pathlib import Path

import xxhash
from pydantic import Field

from datagen import sources
from datagen.filters.base import Filter, FilterParams
from datagen.filters.text import Fields, ngrams, normalize_fuzzy, record_text
from datagen.records import Record


class DecontamParams(FilterParams):
    benchmarks: list[str] = Field(min_length=1, description="benchmark files (JSONL / JSON / parquet / CSV / TSV)")
    text_fields: list[str] = Field(["prompt", "question", "instruction", "input", "problem"],
                                   description="columns holding benchmark text; those present are used")
    id_field: str | None = Field("id", description="column naming an item; the row number when absent")
    n: int = Field(13, ge=1, description="words per n-gram")
    min_words: int = Field(6, ge=1, description="benchmark texts shorter than this are skipped (too generic)")
    fields: Fields = "conversation"  # the part of a record compared


def _gram_key(gram: tuple[str, ...]) -> int:
    return xxhash.xxh3_64_intdigest(" ".join(gram).encode("utf-8"))


class Decontam(Filter):
    name = "decontam"
    Params = DecontamParams

    def __init__(self, params: DecontamParams, ctx) -> None:
        super().__init__(params, ctx)
        self.grams: dict[int, str] = {}  # gram hash -> "file#item"
        self.lengths: set[int] = set()  # gram lengths in the index (items shorter than n are whole grams)
        for i, value in enumerate(params.benchmarks):
            self._index(ctx.resolve_path(value, f"filters.{ctx.name}.benchmarks.{i}"))

    def _index(self, path: Path) -> None:
        rows = sources.dataset(path).to_list()
        fields = [f for f in self.params.text_fields if rows and f in rows[0]]
        if rows and not fields:
            raise ValueError(f"{path}: none of the text fields {self.params.text_fields} is a column "
                             f"(columns: {', '.join(rows[0])}); set `text_fields`")
        for row_number, row in enumerate(rows):
            item = row.get(self.params.id_field) if self.params.id_field else None
            label = f"{path.name}#{item if item is not None else f'row {row_number}'}"
            for field in fields:
                tokens = normalize_fuzzy(str(row[field] or "")).split()
                if len(tokens) < self.params.min_words:
                    continue
                for gram in ngrams(tokens, self.params.n):
                    self.grams.setdefault(_gram_key(gram), label)
                    self.lengths.add(len(gram))

    def find(self, text: str) -> tuple[str, str] | None:
        tokens = normalize_fuzzy(text).split()
        for n in sorted(self.lengths, reverse=True):
            for gram in ngrams(tokens, n):
                if len(gram) == n and (label := self.grams.get(_gram_key(gram))) is not None:
                    return label, " ".join(gram)
        return None

    def apply(self, records: list[Record]) -> list[Record]:
        out = []
        for record in records:
            hit = self.find(record_text(record, self.params.fields))
            if hit is None:
                out.append(self.keep(record))
            else:
                label, gram = hit
                out.append(self.reject(record, f"benchmark overlap ({label.split('#')[0]})", benchmark_item=label,
                                       ngram=gram))
        return out
