"""The Generator interface: a method that turns a model budget into batches of Records.

A generator is one small file: a `Params` model (its YAML keys), and either
- `work_items()` + `run_batch(items, batch)`: for methods whose inputs are known up front (Magpie slots,
  Bonito passages x task types, dataset rows). The base class slices the items into batches and, on resume,
  skips the batches already written. Batches are independent, so two run at a time (after the first, which runs
  alone, so lazy set-up inside run_batch is safe): run_batch keeps its state to itself (discards are counted per
  batch); or
- `batches(start, history)`: for methods with state carried between batches (Self-Instruct's growing pool);
  on resume, `history` holds every record the generator emitted before, to rebuild that state.
Register it in datagen/registry.py GENERATORS.
"""
from __future__ import annotations

import hashlib
import random
from abc import ABC
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

from pydantic import BaseModel, ConfigDict

from datagen.backends.base import Backend, LazyBackend, SamplingParams, Usage, counted_apart
from datagen.records import Provenance, Record


# (discarded, flagged) of the batch being made in this context, when batches are made side by side
_BATCH_COUNTS: ContextVar[tuple[Counter, Counter] | None] = ContextVar("datagen_batch_counts", default=None)


class GeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any values (never Python's salted hash())."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass
class GeneratorContext(LazyBackend):
    """What the runner hands a generator."""

    name: str  # the generator's label in this pipeline
    count: int  # records wanted
    batch_size: int
    seed: int  # run seed
    run_name: str = "run"
    backend_factory: Callable[[], Backend] | None = None
    resolve_path: Callable[[str, str], Path] = field(default=lambda value, key: Path(value))
    _backend: Backend | None = field(default=None, repr=False)

    def batch_seed(self, batch: int) -> int:
        return derive_seed(self.seed, self.name, batch) % (2**31 - 1024)

    def rng(self, batch: int) -> random.Random:
        return random.Random(self.batch_seed(batch))


class Generator(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[GeneratorParams]] = GeneratorParams

    def __init__(self, params: GeneratorParams, ctx: GeneratorContext) -> None:
        self.params = params
        self.ctx = ctx
        # model outputs that never became records (unparseable, too similar, ...): reason -> count.
        # The runner moves these into the batch's stats, so no loss goes unreported.
        self.discarded: Counter[str] = Counter()
        # records kept although a check on them gave no usable answer (e.g. an unparsed judge reply): reason -> count
        self.flagged: Counter[str] = Counter()

    def discard(self, reason: str, count: int = 1) -> None:
        counts = _BATCH_COUNTS.get()
        (counts[0] if counts else self.discarded)[reason] += count

    def flag(self, reason: str, count: int = 1) -> None:
        counts = _BATCH_COUNTS.get()
        (counts[1] if counts else self.flagged)[reason] += count

    # -- for methods with inputs known up front ------------------------------------------------
    def work_items(self) -> Sequence[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define work_items/run_batch or batches")

    def run_batch(self, items: Sequence[Any], batch: int) -> list[Record]:
        raise NotImplementedError

    def batches(self, start: int, history: list[Record]) -> Iterator[list[Record]]:
        """Yield batches numbered start, start + 1, ... until the generator is done. Two batches are made at a
        time, each in its own thread, so an engine with several workers always has requests waiting; they are
        yielded in order, each with its own discards and token counts."""
        items, size = self.work_items(), self.ctx.batch_size
        end = -(-len(items) // size)
        with ThreadPoolExecutor(2, thread_name_prefix=f"{self.name}-batch") as pool:
            made: deque[Future] = deque()
            for batch in range(start, end):
                # the first batch runs alone, so that set-up done lazily inside run_batch happens once
                for ahead in range(batch + len(made), min(batch + (1 if batch == start else 2), end)):
                    made.append(pool.submit(self._make_batch, items[ahead * size:(ahead + 1) * size], ahead))
                records, used, discarded, flagged = made.popleft().result()
                used.add_here()  # the batch's engine work, counted where the runner counts this batch
                self.discarded.update(discarded)
                self.flagged.update(flagged)
                yield records

    def _make_batch(self, items: Sequence[Any], batch: int) -> tuple[list[Record], Usage, Counter, Counter]:
        counts: tuple[Counter, Counter] = (Counter(), Counter())

        def make() -> list[Record]:
            _BATCH_COUNTS.set(counts)
            return self.run_batch(items, batch)
        records, used = counted_apart(make)
        return records, used, *counts

    # -- helpers -------------------------------------------------------------------------------
    def provenance(self, sampling: SamplingParams | dict | None = None, sources: list[str] | None = None,
                   batch: int | None = None, **extra_params: Any) -> Provenance:
        backend = self.ctx._backend
        if isinstance(sampling, SamplingParams):
            sampling = sampling.to_dict()
        return Provenance(
            generator=self.name,
            generator_params={**self.params.model_dump(mode="json"), **extra_params},
            backend=backend.name if backend else None,
            model=backend.model if backend else None,
            sampling=sampling,
            sources=sources or [],
            run=self.ctx.run_name,
            batch=batch,
        )
