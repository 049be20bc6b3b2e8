"""The runner: generators -> filters -> shards, then the train / evaluate / publish / report stages.

Each generator batch is filtered and written as one shard. A rerun of the same config resumes: it keeps the
finished shards a straight run would have written before the first missing or damaged one (later ones are set
aside in stale/ and made again), warms the filters' state from them in the order they were made, and asks each
generator for the batches after them. The resumed run's records are then those of a straight run.
"""
from __future__ import annotations

import contextvars
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm import tqdm

from datagen.backends import build_backend
from datagen.backends.base import Backend, Usage, counted_apart, counting
from datagen.cache import CachedBackend, CallStore
from datagen.config import BackendConfig, ConfigError, PipelineConfig, resolve_path
from datagen.filters.base import Filter, FilterContext
from datagen.generators.base import Generator, GeneratorContext
from datagen.inputs import check_files, fingerprint
from datagen.run_folder import RUN_JSON, RunFolder, shard_name
from datagen.parquet import with_fields, write_parquet
from datagen.records import Record
from datagen.registry import FILTERS, GENERATORS, STAGES
from datagen.stages import StageContext


class Backends:
    """Engines built on first use and shared by every step that names the same backend block; with a call
    cache (CallStore), each engine sits behind it and is built only when an answer is not cached."""

    def __init__(self, executor: str = "local", ray: Any = None, cache: CallStore | None = None) -> None:
        self.engines: dict[str, Backend] = {}
        self.executor, self.ray, self.cache = executor, ray, cache
        self._lock = threading.RLock()  # generation and filtering run side by side: one engine per block

    def factory(self, config) -> Callable[[], Backend]:
        def get() -> Backend:
            key = config.key()
            with self._lock:
                if key not in self.engines:
                    build = partial(self._build, config)
                    self.engines[key] = (CachedBackend(build, config, self.cache) if self.cache
                                         else build())
                return self.engines[key]
        return get

    def _build(self, config) -> Backend:
        engine = build_backend(config, self.executor, self.ray)
        workers = getattr(engine, "workers", 1)
        threads = getattr(engine, "threads", None)
        tqdm.write(f"backend {engine.name} {engine.model}: {workers} worker{'s' * (workers > 1)}"
                   + (f" x {threads} thread{'s' * (threads > 1)}" if threads else ""))
        return engine

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
        self.engines.clear()
        if self.cache is not None:
            self.cache.close()


@dataclass
class RunResult:
    path: Path
    stats: dict[str, Any]
    stages: dict[str, Any] = field(default_factory=dict)


def run_dir_for(config: PipelineConfig) -> Path:
    out = resolve_output_dir(config)
    path = out / config.name
    if path.resolve().parent != out.resolve():
        raise ConfigError(f"{config.source or '<config>'}: name: {config.name!r} must name a folder directly "
                          f"inside output_dir ({out})")
    return path


def resolve_output_dir(config: PipelineConfig) -> Path:
    out = Path(config.output_dir).expanduser()
    return out if out.is_absolute() else Path.cwd() / out


def open_cache(config: PipelineConfig) -> CallStore | None:
    c = config.cache
    if not c.enabled:
        return None
    path = (Path(c.path).expanduser() if c.path else resolve_output_dir(config) / ".cache" / "calls.sqlite")
    return CallStore(path, int(c.max_size_mb * 2**20) if c.max_size_mb else None)


class Runner:
    start_next_early = True  # False: each generator starts once the one before it is done (same records)

    def __init__(self, config: PipelineConfig, quiet: bool = False, restart: bool = False) -> None:
        self.config = config
        self.quiet = quiet
        self.folder = RunFolder(run_dir_for(config))
        self._prepare(restart)  # checks the output folders before the cache is made inside them
        self.backends = Backends(config.executor, config.ray, open_cache(config))

    # -- setup -----------------------------------------------------------------------------------
    def _prepare(self, restart: bool) -> None:
        path = self.folder.path
        check_files(self.config)
        out = path.parent
        if out.exists() and not out.is_dir():
            raise ConfigError(f"output_dir {out} is a file, not a folder")
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path} is a file, not a run folder; change `name` or `output_dir`")
        previous = self.folder.run_info()
        if previous is not None and not (isinstance(previous, dict) and "fingerprint" in previous):
            raise ConfigError(f"{path / RUN_JSON} is not a datagen run file; not touching {path}")
        if previous and restart:
            if previous.get("name") != self.config.name:
                raise ConfigError(f"{path} holds the run {previous.get('name')!r}, not {self.config.name!r}; "
                                  f"not deleting it")
            shutil.rmtree(path)
            previous = None
        run_fingerprint = fingerprint(self.config)
        if previous and previous["fingerprint"] != run_fingerprint:
            raise ConfigError(
                f"{path} holds a run of a different config (seed, backend, generators, filters or the contents of "
                f"their input files changed). Resume needs the same config: rerun with --restart to start over, "
                f"or change `name`.")
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.folder.write_run_info({"name": self.config.name, "fingerprint": run_fingerprint,
                                        "source": str(self.config.source or "")})
        except OSError as err:
            raise ConfigError(f"cannot write the run folder {path}: {err.strerror or err}") from None
        self.folder.write_config(self.config.public())

    def _resolver(self) -> Callable[[str, str], Path]:
        return lambda value, key: resolve_path(value, self.config, key)

    def _build_filters(self) -> list[Filter]:
        filters = []
        for spec in self.config.filters:
            cls = FILTERS.get(spec.type)
            ctx = FilterContext(name=spec.name, seed=self.config.seed,
                                backend_factory=self.backends.factory(spec.backend or self.config.backend),
                                resolve_path=self._resolver())
            filters.append(cls(cls.Params.model_validate(spec.params), ctx))
        return filters

    def _build_generator(self, index: int) -> Generator:
        spec = self.config.generators[index]
        cls = GENERATORS.get(spec.type)
        ctx = GeneratorContext(name=spec.name, count=spec.count, batch_size=spec.batch_size, seed=self.config.seed,
                               run_name=self.config.name,
                               backend_factory=self.backends.factory(spec.backend or self.config.backend),
                               resolve_path=self._resolver())
        return cls(cls.Params.model_validate(spec.params), ctx)

    # -- generate + filter -----------------------------------------------------------------------
    def generate(self) -> dict[str, Any]:
        filters = self._build_filters()
        finished = self._resume_point()
        if finished:
            self._warm_start(filters, finished)
        count = len(self.config.generators)
        ahead = ThreadPoolExecutor(1, thread_name_prefix="datagen-next-generator")
        try:
            current, first = self._open_generator(0, finished), None
            for index in range(count):
                following, next_first = None, None
                if index + 1 < count:
                    following = self._open_generator(index + 1, finished)
                    if self.start_next_early and self._same_engine(index, index + 1):
                        # the next generator makes its first batch while this one runs, so the workers are not
                        # left idle at this one's end; its shards are still filtered and written after this one's
                        next_first = ahead.submit(_first_batch, following[2])
                self._run_generator(index, *current, filters, first)
                current, first = following, next_first
        finally:  # after an error or Ctrl-C, do not wait for a batch made early (closing the engine ends it)
            ahead.shutdown(wait=False, cancel_futures=True)
        stats = self.folder.summarize([f.ctx.name for f in filters], {g.name: g.count for g in self.config.generators})
        self.folder.write_stats({"run": self.config.name, **stats})
        schema, row = with_fields(self.folder.records())  # one column per parsed field, if any
        write_parquet(self.folder.records(), self.folder.parquet, schema=schema, row=row)
        return stats

    def _resume_point(self) -> list[str]:
        """The finished shards a straight run makes before the first missing or damaged one, in the order it makes
        them. Shards after that point are set aside (stale/), since the filters' state they were made with is
        gone, and are made again."""
        markers = {s["shard"]: s for s in self.folder.shard_stats()}
        valid: list[str] = []
        whole = True  # every shard so far is there and sound
        for index, spec in enumerate(self.config.generators):
            batch = 0
            while whole and (name := shard_name(index, spec.name, batch)) in markers:
                problem = self.folder.check_shard(markers[name])
                if problem:
                    tqdm.write(f"shard {name} is damaged ({problem}); making it again")
                    break
                valid.append(name)
                batch += 1
            if not whole or self.folder.generator_batches(index, spec.name) != batch:
                whole = False
                self.folder.clear_generator_done(index, spec.name)
        stale = [name for name in markers if name not in valid]
        for name in stale:
            self.folder.set_aside(name)
        if stale:
            tqdm.write(f"{len(stale)} shard(s) after a missing or damaged one moved to {self.folder.stale} "
                       f"and made again: {', '.join(sorted(stale)[:5])}{' ...' * (len(stale) > 5)}")
        return valid

    def _warm_start(self, filters: list[Filter], shards: list[str]) -> None:
        seen = list(self.folder.in_order(shards))
        for f in filters:
            f.warm_start(r for r in seen if any(v.filter == f.ctx.name and v.keep for v in r.verdicts))

    def _open_generator(self, index: int, finished: list[str]
                        ) -> tuple[Generator, int, Iterator[list[Record]], int]:
        """Generator `index`, the batch it resumes at, its batches from there, and the records it made already."""
        spec = self.config.generators[index]
        generator = self._build_generator(index)
        done = [s for s in finished if s.startswith(f"{index:02d}-{spec.name}-")]
        history = list(self.folder.in_order(done))
        return generator, len(done), generator.batches(len(done), history), len(history)

    def _same_engine(self, a: int, b: int) -> bool:
        specs = self.config.generators
        return (specs[a].backend or self.config.backend) == (specs[b].backend or self.config.backend)

    def _run_generator(self, index: int, generator: Generator, start: int, batches: Iterator[list[Record]],
                       done_records: int, filters: list[Filter], first: Future | None = None) -> None:
        """Filter and write the generator's batches as shards; `first`, when given, holds its first batch, made
        early in another thread (see _first_batch)."""
        spec = self.config.generators[index]
        bar = tqdm(total=spec.count, initial=min(done_records, spec.count), desc=f"generate {spec.name}",
                   unit="rec", disable=self.quiet, dynamic_ncols=True)
        batch = start
        # Shard N is filtered and written in another thread while the generator makes shard N+1. One shard at a
        # time and in order, so the filters' state and the files are those of a run that does one after the other.
        with ThreadPoolExecutor(1, thread_name_prefix="datagen-filter") as writer:
            pending: Future | None = None
            while True:
                if first is not None:
                    records, used, seconds = first.result()
                    first = None
                else:
                    started = time.perf_counter()
                    with counting() as used:  # this batch's engine work, apart from the filters' running meanwhile
                        records = next(batches, None)
                    seconds = time.perf_counter() - started
                if records is None:
                    break
                made = {"shard": shard_name(index, spec.name, batch), "batch": batch, "seconds": seconds, "used": used,
                        "discarded": dict(generator.discarded), "flagged": dict(generator.flagged)}
                generator.discarded.clear()
                generator.flagged.clear()
                if pending is not None:
                    pending.result()  # a filter's error stops the run here; at most one shard waits
                job = partial(self._filter_and_write, generator, filters, records, made, bar)
                pending = writer.submit(contextvars.copy_context().run, job)
                batch += 1
            if pending is not None:
                pending.result()
        self.folder.mark_generator_done(index, spec.name, batch)
        bar.close()
        if self.quiet:
            totals = self.folder.summarize([])["generators"].get(spec.name, {})
            print(f"generate {spec.name}: {totals.get('generated', 0)} records, {totals.get('kept', 0)} kept, "
                  f"{totals.get('tokens_per_s', 0)} tokens/s")

    def _filter_and_write(self, generator: Generator, filters: list[Filter], records: list[Record],
                          made: dict[str, Any], bar: tqdm) -> None:
        started = time.perf_counter()
        with counting() as filtering:
            kept, rejected, funnel, order = apply_filters(filters, records)
        used: Usage = made["used"]
        stats = {
            "shard": made["shard"], "generator": generator.ctx.name, "batch": made["batch"],
            "generated": len(records), "kept": len(kept), "rejected": len(rejected),
            "discarded": made["discarded"], "flagged": made["flagged"], "filters": funnel,
            "prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens,
            "cached_prompt_tokens": used.cached_prompt_tokens, "finish_unknown": used.unknown_finish,
            "filter_tokens": filtering.prompt_tokens + filtering.completion_tokens,
            "seconds": round(made["seconds"], 4), "filter_seconds": round(time.perf_counter() - started, 4),
            "cache_calls": used.cache_asked, "cache_hits": used.cache_hits,
            "filter_cache_calls": filtering.cache_asked, "filter_cache_hits": filtering.cache_hits,
        }
        self.folder.write_shard(stats["shard"], kept, rejected, stats, order)
        bar.update(len(records))
        bar.set_postfix(self._postfix(generator, stats), refresh=False)

    def _postfix(self, generator: Generator, stats: dict[str, Any]) -> dict[str, Any]:
        postfix = {"kept": stats["kept"], "tok/s": round(stats["completion_tokens"] / max(stats["seconds"], 1e-9))}
        engine = generator.ctx._backend
        if engine is not None:
            postfix["workers"] = getattr(engine, "workers", 1)
        return postfix

    # -- stages ----------------------------------------------------------------------------------
    def run_stages(self, only: list[str] | None = None, force: bool = False) -> dict[str, Any]:
        results = {}
        for name, block in self.config.stages.items():
            if only is not None and name not in only:
                continue
            finished = None if force else self.folder.stage_result(name)
            if finished is not None:
                results[name] = finished
                continue
            results[name] = run_stage(name, block, self.folder.path, config=self.config, quiet=self.quiet,
                                      backends=self.backends)
            if not self.quiet and results[name].get("headline"):
                print("\n".join(results[name]["headline"]))  # the evaluate stage's `METRIC: base B tuned T n N`
        return results

    def close(self) -> None:
        self.backends.close()


def apply_filters(filters: list[Filter], records: list[Record]
                  ) -> tuple[list[Record], list[Record], dict, str]:
    """Run records through the filters in order; a rejected record skips the rest. Returns kept, rejected (both in
    the order generated), the funnel {filter: {in, out, reasons}} and the order: k or r per generated record."""
    funnel: dict[str, dict[str, Any]] = {}
    alive, rejected = list(enumerate(records)), []
    for f in filters:
        out = f.apply([record for _, record in alive]) if alive else []
        if len(out) != len(alive):
            raise RuntimeError(f"filter {f.ctx.name} returned {len(out)} records for {len(alive)}: "
                               f"a filter must return every record it is given")
        reasons: Counter[str] = Counter()
        positions, alive, unparsed = [i for i, _ in alive], [], 0
        for position, record in zip(positions, out):
            verdict = record.verdicts[-1] if record.verdicts else None
            if verdict is None or verdict.filter != f.ctx.name:
                raise RuntimeError(f"filter {f.ctx.name} left record {record.id} without its verdict")
            if verdict.keep:
                alive.append((position, record))
                unparsed += bool(verdict.details.get("unparsed"))  # kept without a verdict it could read
            else:
                reasons[verdict.reason] += 1
                rejected.append((position, record))
        funnel[f.ctx.name] = {"in": len(out), "out": len(alive), "reasons": dict(reasons), "unparsed": unparsed}
    rejected.sort(key=lambda pair: pair[0])
    kept_at = {i for i, _ in alive}
    order = "".join("k" if i in kept_at else "r" for i in range(len(records)))
    return [r for _, r in alive], [r for _, r in rejected], funnel, order


def run_stage(name: str, block: dict[str, Any], run_dir: Path, config: PipelineConfig | None = None,
              quiet: bool = False, backends: Backends | None = None) -> dict[str, Any]:
    """Run one stage over an output folder and record that it finished."""
    cls = STAGES.get(name)
    own = backends is None  # engines built here (a stage run from the CLI) are closed here
    backends = backends or Backends()
    default = config.backend if config else BackendConfig()

    def backend_for(spec=None) -> Backend:
        return backends.factory(spec or default)()

    ctx = StageContext(run_dir=Path(run_dir), config=config, quiet=quiet, backend_factory=backend_for,
                       resolve_path=lambda value, key: resolve_path(value, config, key))
    started = time.perf_counter()
    try:
        result = cls(cls.Params.model_validate(block), ctx).run() or {}
    finally:
        if own:
            backends.close()
    result = {**result, "seconds": round(time.perf_counter() - started, 2)}
    RunFolder(run_dir).write_stage_result(name, result)
    return result


def run_pipeline(config: PipelineConfig, quiet: bool = False, restart: bool = False,
                 stages: bool = True) -> RunResult:
    runner = Runner(config, quiet=quiet, restart=restart)
    try:
        stats = runner.generate()
        stage_results = runner.run_stages() if stages else {}
    finally:
        runner.close()
    return RunResult(runner.folder.path, stats, stage_results)


def _first_batch(batches: Iterator[list[Record]]) -> tuple[list[Record] | None, Usage, float]:
    """A generator's first batch, made in another thread and counted apart: its engine work belongs to its shard."""
    started = time.perf_counter()
    records, used = counted_apart(lambda: next(batches, None))
    return records, used, time.perf_counter() - started
