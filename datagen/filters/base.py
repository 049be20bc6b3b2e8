"""The Filter interface: a verdict (keep or reject, with a reason) on every record it sees.

A filter is one small file: a `Params` model (its YAML keys) and either
- `check(record)`, returning None to keep or a reason string to reject (subclass RecordFilter), or
- `judge(record)`, returning the record with this filter's Verdict appended, where the verdict carries details or
  the record is rewritten, e.g. PII scrubbed (subclass RecordFilter), or
- `apply(records)`, returning the records in order, each with this filter's Verdict appended, for filters that
  need the whole batch at once (dedup, model calls); it may also rewrite records or add scores.
Filters with state (dedup) implement `warm_start(records)`: on resume it receives every record this filter
kept in earlier shards, so state survives shards and restarts. Register it in datagen/registry.py FILTERS.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

from pydantic import BaseModel, ConfigDict

from datagen.backends.base import Backend, LazyBackend
from datagen.records import Record, Verdict


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class FilterContext(LazyBackend):
    name: str  # the filter's label in this pipeline (used in verdicts)
    seed: int = 0
    backend_factory: Callable[[], Backend] | None = None
    resolve_path: Callable[[str, str], Path] = field(default=lambda value, key: Path(value))
    _backend: Backend | None = field(default=None, repr=False)


class Filter(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[FilterParams]] = FilterParams

    def __init__(self, params: FilterParams, ctx: FilterContext) -> None:
        self.params = params
        self.ctx = ctx

    @abstractmethod
    def apply(self, records: list[Record]) -> list[Record]:
        """Return `records` in order, each with exactly one new verdict from this filter."""

    def warm_start(self, records: Iterable[Record]) -> None:
        """Rebuild state from records this filter kept earlier (resume, later shards)."""

    def keep(self, record: Record, **details: Any) -> Record:
        record.verdicts.append(Verdict(filter=self.ctx.name, keep=True, details=details))
        return record

    def reject(self, record: Record, reason: str, **details: Any) -> Record:
        record.verdicts.append(Verdict(filter=self.ctx.name, keep=False, reason=reason, details=details))
        return record


class RecordFilter(Filter):
    """A filter that judges each record on its own: it overrides `check`, or `judge` where the verdict needs details
    or the record is rewritten."""

    def apply(self, records: list[Record]) -> list[Record]:
        return [self.judge(record) for record in records]

    def judge(self, record: Record) -> Record:
        """The record (or its rewrite) with this filter's verdict appended."""
        reason = self.check(record)
        return self.keep(record) if reason is None else self.reject(record, reason)

    def check(self, record: Record) -> str | None:
        """None to keep, or the reason to reject."""
        raise NotImplementedError(f"{type(self).__name__} overrides neither check nor judge")
