"""The runner: generators -> filters -> shards, then the train / evaluate / publish / report stages.

Each generator batch is filtered and written as one shard. A rerun of the same config resumes: it lists the
finished shards, warms the filters' state from them, and asks each generator for the batches after them.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import yaml
from tqdm import tqdm

from datagen.backends import build_backend
from datagen.backends.base import Backend
from datagen.cache import CachedBackend, CallStore
from datagen.config import BackendConfig, ConfigError, PipelineConfig, resolve_path
from datagen.filters.base import Filter, FilterContext
from datagen.generators.base import Generator, GeneratorContext
from datagen.output import RunFolder, shard_name
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

    def factory(self, config) -> Callable[[], Backend]:
        def get() -> Backend:
            key = config.key()
            if key not in self.engines:
                build = partial(self._build, config)
                self.engines[key] = (CachedBackend(build, config.model_dump(), self.cache) if self.cache
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

    def cache_counts(self) -> tuple[int, int]:
        """(inputs asked for, inputs answered from the cache) so far."""
        cached = [e for e in self.engines.values() if isinstance(e, CachedBackend)]
        return sum(e.calls for e in cached), sum(e.hits for e in cached)

    def tokens(self) -> tuple[int, int]:
        return (sum(b.usage.prompt_tokens for b in self.engines.values()),
                sum(b.usage.completion_tokens for b in self.engines.values()))

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
    return resolve_output_dir(config) / config.name


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
    def __init__(self, config: PipelineConfig, quiet: bool = False, restart: bool = False) -> None:
        self.config = config
        self.quiet = quiet
        self.folder = RunFolder(run_dir_for(config))
        self.backends = Backends(config.executor, config.ray, open_cache(config))
        self._prepare(restart)

    # -- setup -----------------------------------------------------------------------------------
    def _prepare(self, restart: bool) -> None:
        path = self.folder.path
        previous = self.folder.read_json("run.json")
        if previous and restart:
            shutil.rmtree(path)
            previous = None
        if previous and previous["fingerprint"] != self.config.fingerprint():
            raise ConfigError(
                f"{path} holds a run of a different config (seed, backend, generators or filters changed). "
                f"Resume needs the same config: rerun with --restart to start over, or change `name`.")
        path.mkdir(parents=True, exist_ok=True)
        self.folder.write_json("run.json", {"name": self.config.name, "fingerprint": self.config.fingerprint(),
                                            "source": str(self.config.source or "")})
        (path / "config.yaml").write_text(yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False))

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
        finished = set(self.folder.finished())
        if finished:
            self._warm_start(filters, sorted(finished))
        for index, spec in enumerate(self.config.generators):
            generator = self._build_generator(index)
            done = sorted(s for s in finished if s.startswith(f"{index:02d}-{spec.name}-"))
            batches = [int(s.rsplit("-", 1)[1]) for s in done]
            start = next((i for i, b in enumerate(batches) if b != i), len(batches))  # first gap
            history = list(self.folder.records(done[:start])) + list(self.folder.rejects(done[:start]))
            self._run_generator(index, generator, filters, start, history)
        stats = self.folder.summarize([f.ctx.name for f in filters])
        self.folder.write_json("stats.json", {"run": self.config.name, **stats})
        schema, row = with_fields(self.folder.records())  # one column per parsed field, if any
        write_parquet(self.folder.records(), self.folder.path / "records.parquet", schema=schema, row=row)
        return stats

    def _warm_start(self, filters: list[Filter], shards: list[str]) -> None:
        seen = list(self.folder.records(shards)) + list(self.folder.rejects(shards))
        for f in filters:
            f.warm_start(r for r in seen if any(v.filter == f.ctx.name and v.keep for v in r.verdicts))

    def _run_generator(self, index: int, generator: Generator, filters: list[Filter], start: int,
                       history: list[Record]) -> None:
        spec = self.config.generators[index]
        done_records = len(history)
        bar = tqdm(total=spec.count, initial=min(done_records, spec.count), desc=f"generate {spec.name}",
                   unit="rec", disable=self.quiet, dynamic_ncols=True)
        batches = generator.batches(start, history)
        batch = start
        while True:
            t0, tokens0, cache0 = time.perf_counter(), self.backends.tokens(), self.backends.cache_counts()
            records = next(batches, None)
            if records is None:
                break
            t1, tokens1, cache1 = time.perf_counter(), self.backends.tokens(), self.backends.cache_counts()
            kept, rejected, funnel = apply_filters(filters, records)
            t2, tokens2, cache2 = time.perf_counter(), self.backends.tokens(), self.backends.cache_counts()
            stats = {
                "shard": shard_name(index, spec.name, batch), "generator": spec.name, "batch": batch,
                "generated": len(records), "kept": len(kept), "rejected": len(rejected),
                "discarded": dict(generator.discarded), "filters": funnel,
                "prompt_tokens": tokens1[0] - tokens0[0], "completion_tokens": tokens1[1] - tokens0[1],
                "filter_tokens": (tokens2[0] - tokens1[0]) + (tokens2[1] - tokens1[1]),
                "seconds": round(t1 - t0, 4), "filter_seconds": round(t2 - t1, 4),
                "cache_calls": cache1[0] - cache0[0], "cache_hits": cache1[1] - cache0[1],
                "filter_cache_calls": cache2[0] - cache1[0], "filter_cache_hits": cache2[1] - cache1[1],
            }
            generator.discarded.clear()
            self.folder.write_shard(stats["shard"], kept, rejected, stats)
            bar.update(len(records))
            bar.set_postfix(self._postfix(generator, stats), refresh=False)
            batch += 1
        bar.close()
        if self.quiet:
            totals = self.folder.summarize([])["generators"].get(spec.name, {})
            print(f"generate {spec.name}: {totals.get('generated', 0)} records, {totals.get('kept', 0)} kept, "
                  f"{totals.get('tokens_per_s', 0)} tokens/s")

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
            marker = self.folder.path / "stages" / f"{name}.json"
            if marker.is_file() and not force:
                results[name] = json.loads(marker.read_text())
                continue
            results[name] = run_stage(name, block, self.folder.path, config=self.config, quiet=self.quiet,
                                      backends=self.backends)
        return results

    def close(self) -> None:
        self.backends.close()


def apply_filters(filters: list[Filter], records: list[Record]) -> tuple[list[Record], list[Record], dict]:
    """Run records through the filters in order; a rejected record skips the rest. Returns kept, rejected,
    and the funnel {filter: {in, out, reasons}}."""
    funnel: dict[str, dict[str, Any]] = {}
    alive, rejected = list(records), []
    for f in filters:
        out = f.apply(alive) if alive else []
        if len(out) != len(alive):
            raise RuntimeError(f"filter {f.ctx.name} returned {len(out)} records for {len(alive)}: "
                               f"a filter must return every record it is given")
        reasons: Counter[str] = Counter()
        alive = []
        for record in out:
            verdict = record.verdicts[-1] if record.verdicts else None
            if verdict is None or verdict.filter != f.ctx.name:
                raise RuntimeError(f"filter {f.ctx.name} left record {record.id} without its verdict")
            if verdict.keep:
                alive.append(record)
            else:
                reasons[verdict.reason] += 1
                rejected.append(record)
        funnel[f.ctx.name] = {"in": len(out), "out": len(alive), "reasons": dict(reasons)}
    return alive, rejected, funnel


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
    folder = RunFolder(run_dir)
    folder.write_json(f"stages/{name}.json", result)
    stats = folder.read_json("stats.json") or {}
    folder.write_json("stats.json", {**stats, "stages": {**stats.get("stages", {}), name: result}})
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
