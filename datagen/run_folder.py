"""The run folder: its layout, and the readers and writers of everything in it. No other module spells a name
below; each asks RunFolder (or TrainOutputs) for the path or the contents.

    outputs/<run>/
      config.yaml            the resolved pipeline config (secrets redacted); stage commands take their defaults
                             from its blocks
      run.json               fingerprint of what decides the records (a resumed run must match it)
      records/<shard>.jsonl  kept records
      rejects/<shard>.jsonl  rejected records, each with the verdict that rejected it
      shards/<shard>.json    written last: the shard is finished; its counts, checksums and timings
      done/<generator>.json  the generator gave all its batches
      stale/                 shards set aside by a resume (after a missing or damaged one), made again
      stats.json             totals and the filter funnel, summed from shards/, and each stage's summary
      records.parquet        all kept records in one table
      stages/<stage>.json    the stage finished (its summary); `datagen run` skips it next time
      train/                 the train stage (TrainOutputs): adapter/, merged/, config.json, log.jsonl, loss.png,
                             validation.jsonl, heldout.jsonl, ablations/<name>/ (the same files per ablation)
      eval/                  the evaluate stage (or its `folder`): responses.jsonl, metrics.json, report.md,
                             metrics.png
      hub/                   the publish stage's dataset folder (unless `out`): README.md, data/, exports/
      report/                the report stage's page (unless `out`): index.html, report.md, *.png

Every file is written to a temporary name and renamed, so a killed run leaves whole files or none; a shard
counts as finished only once its shards/ marker exists and its files match the marker's checksums; a resumed run
rewrites unfinished ones.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from datagen.records import Record


def atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def dump_jsonl(records: Iterable[Record]) -> str:
    return "".join(r.model_dump_json() + "\n" for r in records)


def read_records(path: Path) -> Iterator[Record]:
    """The records of a JSON Lines file written by datagen (one Record per line)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield Record.model_validate_json(line)
                except ValueError as err:
                    first = str(err).strip().splitlines()
                    raise ValueError(f"{path}: line {n}: not a valid record: {first[-1] if first else err}") \
                        from None


def load_json(path: Path) -> Any:
    """A JSON file written by datagen, with an error naming it when it is damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: damaged JSON file ({err}); delete it (or the run folder) to start over") \
            from None


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


RUN_JSON, CONFIG, STATS, PARQUET = "run.json", "config.yaml", "stats.json", "records.parquet"
RECORDS, REJECTS, SHARDS, DONE, STALE, STAGES = "records", "rejects", "shards", "done", "stale", "stages"
TRAIN, EVAL, HUB, REPORT = "train", "eval", "hub", "report"
# the run's own data, which an export must not overwrite (hub/ and report/ are outputs a user may write into)
RUN_FILES = {RUN_JSON, CONFIG, STATS, PARQUET}
RUN_FOLDERS = {RECORDS, REJECTS, SHARDS, DONE, STALE, STAGES, TRAIN, EVAL}


def shard_name(generator_index: int, generator: str, batch: int) -> str:
    return f"{generator_index:02d}-{generator}-{batch:06d}"


@dataclass(frozen=True)
class TrainOutputs:
    """What the train stage writes into one folder (train/, and train/ablations/<name> per ablation) and the
    evaluate stage reads: the contract between the two."""
    path: Path

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"  # LoRA / QLoRA weights and the tokenizer they were trained with

    @property
    def merged(self) -> Path:
        return self.path / "merged"  # a plain model: full fine-tuning, or base + LoRA merged

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def settings_file(self) -> Path:
        return self.path / "config.json"  # {params, sft_config, summary}

    @property
    def log(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def loss_plot(self) -> Path:
        return self.path / "loss.png"

    @property
    def validation(self) -> Path:
        return self.path / "validation.jsonl"

    @property
    def heldout(self) -> Path:
        return self.path / "heldout.jsonl"

    @property
    def has_model(self) -> bool:
        return (self.merged / "config.json").is_file() or self.adapter.is_dir()

    def ablation(self, name: str) -> "TrainOutputs":
        return TrainOutputs(self.path / "ablations" / name)

    def ablations(self) -> dict[str, "TrainOutputs"]:
        """The ablations trained so far (those with their settings file), by name."""
        return {p.parent.name: TrainOutputs(p.parent) for p in sorted((self.path / "ablations").glob("*/config.json"))}

    def settings(self) -> dict[str, Any]:
        return (load_json(self.settings_file) or {}) if self.settings_file.is_file() else {}

    def write_settings(self, settings: dict[str, Any]) -> None:
        atomic_write(self.settings_file, json.dumps(settings, indent=1, default=str))

    def write_split(self, validation: list[Record], heldout: list[Record]) -> None:
        atomic_write(self.validation, dump_jsonl(validation))
        atomic_write(self.heldout, dump_jsonl(heldout))

    def validation_records(self) -> list[Record]:
        return list(read_records(self.validation)) if self.validation.is_file() else []

    def heldout_records(self) -> list[Record]:
        return list(read_records(self.heldout)) if self.heldout.is_file() else []

    def model(self) -> tuple[str, str | None]:
        """(model, adapter) of the tuned model: the merged model if there is one, else the base + the adapter."""
        if (self.merged / "config.json").is_file():
            return str(self.merged), None
        if self.adapter.is_dir():
            return self.settings()["params"]["model"], str(self.adapter)
        raise FileNotFoundError(f"{self.path}: no trained model (merged/ or adapter/); run the train stage first")


@dataclass(frozen=True)
class EvalOutputs:
    """What the evaluate stage writes into its folder (eval/ unless told another)."""
    path: Path

    @property
    def responses(self) -> Path:
        return self.path / "responses.jsonl"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def report(self) -> Path:
        return self.path / "report.md"

    @property
    def plot(self) -> Path:
        return self.path / "metrics.png"


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return (self.path / RUN_JSON).is_file()

    def require(self) -> "RunFolder":
        if not self.exists:
            raise FileNotFoundError(f"{self.path} is not a datagen output folder (no {RUN_JSON}); "
                                    f"run a pipeline first: datagen run pipelines/NAME.yaml")
        self.run_info()  # a damaged one is named here, not deep in a reader
        return self

    # -- layout ----------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def parquet(self) -> Path:
        return self.path / PARQUET

    @property
    def stale(self) -> Path:
        return self.path / STALE

    @property
    def train(self) -> TrainOutputs:
        return TrainOutputs(self.path / TRAIN)

    def evaluation(self, folder: str = EVAL) -> EvalOutputs:
        return EvalOutputs(self.path / folder)

    @property
    def hub(self) -> Path:
        return self.path / HUB

    @property
    def report(self) -> Path:
        return self.path / REPORT

    def stage_marker(self, stage: str) -> Path:
        return self.path / STAGES / f"{stage}.json"

    def _shard_file(self, kind: str, shard: str) -> Path:
        return self.path / kind / f"{shard}{'.json' if kind == SHARDS else '.jsonl'}"

    def _done_file(self, generator_index: int, generator: str) -> Path:
        return self.path / DONE / f"{generator_index:02d}-{generator}.json"

    # -- writing ---------------------------------------------------------------------------------
    def write_run_info(self, info: dict[str, Any]) -> None:
        self.write_json(RUN_JSON, info)

    def write_config(self, config: dict[str, Any]) -> None:
        import yaml

        atomic_write(self.config_file, yaml.safe_dump(config, sort_keys=False))

    def write_stats(self, stats: dict[str, Any]) -> None:
        self.write_json(STATS, stats)

    def write_stage_result(self, stage: str, result: dict[str, Any]) -> None:
        """The stage's marker, and its summary under "stages" in stats.json."""
        self.write_json(f"{STAGES}/{stage}.json", result)
        stats = self.read_json(STATS) or {}
        self.write_stats({**stats, STAGES: {**stats.get(STAGES, {}), stage: result}})

    def mark_generator_done(self, generator_index: int, generator: str, batches: int) -> None:
        atomic_write(self._done_file(generator_index, generator), json.dumps({"batches": batches}, indent=2))

    def clear_generator_done(self, generator_index: int, generator: str) -> None:
        self._done_file(generator_index, generator).unlink(missing_ok=True)

    def write_shard(self, name: str, kept: list[Record], rejected: list[Record], stats: dict[str, Any],
                    order: str | None = None) -> None:
        """`order`: one letter per generated record, k (kept) or r (rejected), so that a resume can replay the
        records in the order they were made."""
        texts = {RECORDS: dump_jsonl(kept), REJECTS: dump_jsonl(rejected)}
        for kind, text in texts.items():
            atomic_write(self._shard_file(kind, name), text)
        stats = {**stats, "order": order or "k" * len(kept) + "r" * len(rejected),
                 "checksums": {kind: checksum(text) for kind, text in texts.items()}}
        atomic_write(self._shard_file(SHARDS, name), json.dumps(stats, indent=1))  # marks it finished

    def check_shard(self, stats: dict[str, Any]) -> str | None:
        """None when the shard's files are whole, else what is wrong with them."""
        for kind, count in ((RECORDS, stats.get("kept", 0)), (REJECTS, stats.get("rejected", 0))):
            path = self._shard_file(kind, stats["shard"])
            if not path.is_file():
                return f"{path} is missing"
            data = path.read_bytes()
            expected = stats.get("checksums", {}).get(kind)
            if expected and checksum(data.decode("utf-8", errors="replace")) != expected:
                return f"{path} does not match its checksum in {SHARDS}/{stats['shard']}.json"
            if sum(1 for line in data.splitlines() if line.strip()) != count:
                return f"{path} does not hold the {count} records its marker counts"
        return None

    def set_aside(self, shard: str) -> None:
        """Move a shard's files to stale/ (marker first, so it no longer counts as finished)."""
        for kind in (SHARDS, RECORDS, REJECTS):
            path = self._shard_file(kind, shard)
            if path.exists():
                (self.stale / kind).mkdir(parents=True, exist_ok=True)
                os.replace(path, self.stale / kind / path.name)

    def in_order(self, shards: Iterable[str]) -> Iterator[Record]:
        """Kept and rejected records of the shards, in the order they were generated."""
        markers = {s["shard"]: s for s in self.shard_stats()}
        for name in shards:
            kept = read_records(self._shard_file(RECORDS, name))
            rejected = read_records(self._shard_file(REJECTS, name))
            for letter in markers[name].get("order", ""):
                yield next(kept) if letter == "k" else next(rejected)
            yield from kept  # markers written before `order` existed: kept, then rejected
            yield from rejected

    def write_json(self, name: str, data: Any) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, default=str))

    # -- reading ---------------------------------------------------------------------------------
    def run_info(self) -> Any:
        """run.json: the run's name and fingerprint (None before the first run)."""
        return self.read_json(RUN_JSON)

    def config(self) -> dict[str, Any]:
        """config.yaml as written by the run ({} when there is none)."""
        config = self.read_yaml(CONFIG)
        return config if isinstance(config, dict) else {}

    def stage_block(self, stage: str) -> dict[str, Any]:
        """The stage's block in config.yaml ({} when the run has none)."""
        return dict(self.config().get(stage) or {})

    def stats(self) -> dict[str, Any]:
        """stats.json, or the totals summed from the finished shards when it is not written yet."""
        return self.read_json(STATS) or self.summarize([])

    def stage_result(self, stage: str) -> dict[str, Any] | None:
        """The summary of a finished stage; None when it has not finished."""
        marker = self.stage_marker(stage)
        return load_json(marker) if marker.is_file() else None

    def generator_batches(self, generator_index: int, generator: str) -> int | None:
        """How many batches a generator gave in all (None until it has given them all)."""
        path = self._done_file(generator_index, generator)
        return (load_json(path) or {}).get("batches") if path.is_file() else None

    def shard_stats(self) -> list[dict[str, Any]]:
        folder = self.path / SHARDS
        if not folder.is_dir():
            return []
        # a write killed halfway leaves its temporary (.tmp-NAME), never a marker
        return [load_json(p) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]

    def finished(self) -> list[str]:
        return [s["shard"] for s in self.shard_stats()]

    def records(self, shards: Iterable[str] | None = None) -> Iterator[Record]:
        yield from self._read(RECORDS, shards)

    def rejects(self, shards: Iterable[str] | None = None) -> Iterator[Record]:
        yield from self._read(REJECTS, shards)

    def _read(self, kind: str, shards: Iterable[str] | None) -> Iterator[Record]:
        for name in (self.finished() if shards is None else shards):
            yield from read_records(self._shard_file(kind, name))

    def read_yaml(self, name: str) -> Any:
        import yaml

        path = self.path / name
        if not path.is_file():
            return None
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: damaged YAML file: {' '.join(str(err).split())}") from None

    def owns(self, path: str | Path) -> bool:
        """Whether `path` is one of the run's own files (which an export must not overwrite)."""
        try:
            parts = Path(path).resolve().relative_to(self.path.resolve()).parts
        except ValueError:
            return False
        return bool(parts) and (parts[0] in RUN_FOLDERS or (len(parts) == 1 and parts[0] in RUN_FILES))

    def read_json(self, name: str) -> Any:
        path = self.path / name
        return load_json(path) if path.is_file() else None

    # -- summaries -------------------------------------------------------------------------------
    def summarize(self, filter_order: list[str], requested: dict[str, int] | None = None) -> dict[str, Any]:
        """stats.json: totals per generator and the filter funnel, summed over finished shards. `requested`
        (generator -> count) adds how many records each was asked for and how many it fell short."""
        requested = requested or {}
        gens: dict[str, Counter] = defaultdict(Counter, {name: Counter() for name in requested})
        discarded: dict[str, Counter] = defaultdict(Counter)
        flagged: dict[str, Counter] = defaultdict(Counter)
        funnel: dict[str, dict[str, Any]] = {f: {"in": 0, "out": 0, "reasons": Counter(), "unparsed": 0}
                                             for f in filter_order}
        for s in self.shard_stats():
            g = gens[s["generator"]]
            for key in ("generated", "kept", "rejected", "prompt_tokens", "completion_tokens", "cached_prompt_tokens",
                        "filter_tokens", "finish_unknown", "cache_calls", "cache_hits", "filter_cache_calls",
                        "filter_cache_hits"):
                g[key] += s.get(key, 0)
            g["batches"] += 1
            g["seconds"] += s.get("seconds", 0.0)
            g["filter_seconds"] += s.get("filter_seconds", 0.0)
            discarded[s["generator"]].update(s.get("discarded", {}))
            flagged[s["generator"]].update(s.get("flagged", {}))
            for fname, fs in s.get("filters", {}).items():
                f = funnel.setdefault(fname, {"in": 0, "out": 0, "reasons": Counter(), "unparsed": 0})
                f["in"] += fs["in"]
                f["out"] += fs["out"]
                f["reasons"].update(fs["reasons"])
                f["unparsed"] += fs.get("unparsed", 0)
        generators = {}
        for name, g in gens.items():
            secs = g["seconds"] or 1e-9
            generators[name] = {**g, "seconds": round(g["seconds"], 3), "filter_seconds": round(g["filter_seconds"], 3),
                                "records_per_s": round(g["generated"] / secs, 3),
                                "tokens_per_s": round(g["completion_tokens"] / secs, 1),
                                "discarded": dict(discarded[name]), "flagged": dict(flagged[name])}
            if name in requested:
                generators[name].update(requested=requested[name],
                                        shortfall=max(0, requested[name] - g["generated"]))
        for f in funnel.values():
            f["rejected"] = f["in"] - f["out"]
            f["reasons"] = dict(f["reasons"].most_common())
        return {
            "generated": sum(g["generated"] for g in gens.values()),
            "kept": sum(g["kept"] for g in gens.values()),
            "rejected": sum(g["rejected"] for g in gens.values()),
            # model inputs asked for by generators and filters, and how many the call cache answered
            "cache": {"calls": sum(g["cache_calls"] + g["filter_cache_calls"] for g in gens.values()),
                      "hits": sum(g["cache_hits"] + g["filter_cache_hits"] for g in gens.values())},
            "generators": generators,
            "filters": funnel,
        }
