"""The run folder: sharded records, rejects, per-shard stats, and readers for everything downstream.

    outputs/<run>/
      config.yaml            the resolved pipeline config
      run.json               fingerprint of what decides the records (a resumed run must match it)
      records/<shard>.jsonl  kept records
      rejects/<shard>.jsonl  rejected records, each with the verdict that rejected it
      shards/<shard>.json    written last: the shard is finished; its counts, checksums and timings
      done/<generator>.json  the generator gave all its batches
      stats.json             totals and the filter funnel, summed from shards/
      records.parquet        all kept records in one table

Every file is written to a temporary name and renamed, so a killed run leaves whole files or none; a shard
counts as finished only once its shards/ marker exists and its files match the marker's checksums; a resumed run
rewrites unfinished ones.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
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


def read_jsonl(path: Path) -> Iterator[Record]:
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


RUN_FILES = {"run.json", "config.yaml", "stats.json", "records.parquet"}
RUN_FOLDERS = {"records", "rejects", "shards", "done", "stale", "stages", "train", "eval"}


def shard_name(generator_index: int, generator: str, batch: int) -> str:
    return f"{generator_index:02d}-{generator}-{batch:06d}"


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return (self.path / "run.json").is_file()

    def require(self) -> "RunFolder":
        if not self.exists:
            raise FileNotFoundError(f"{self.path} is not a datagen output folder (no run.json); "
                                    f"run a pipeline first: datagen run pipelines/NAME.yaml")
        self.read_json("run.json")  # a damaged one is named here, not deep in a reader
        return self

    # -- writing ---------------------------------------------------------------------------------
    def write_shard(self, name: str, kept: list[Record], rejected: list[Record], stats: dict[str, Any],
                    order: str | None = None) -> None:
        """`order`: one letter per generated record, k (kept) or r (rejected), so that a resume can replay the
        records in the order they were made."""
        texts = {"records": dump_jsonl(kept), "rejects": dump_jsonl(rejected)}
        for kind, text in texts.items():
            atomic_write(self.path / kind / f"{name}.jsonl", text)
        stats = {**stats, "order": order or "k" * len(kept) + "r" * len(rejected),
                 "checksums": {kind: checksum(text) for kind, text in texts.items()}}
        atomic_write(self.path / "shards" / f"{name}.json", json.dumps(stats, indent=1))  # marks it finished

    def check_shard(self, stats: dict[str, Any]) -> str | None:
        """None when the shard's files are whole, else what is wrong with them."""
        for kind, count in (("records", stats.get("kept", 0)), ("rejects", stats.get("rejected", 0))):
            path = self.path / kind / f"{stats['shard']}.jsonl"
            if not path.is_file():
                return f"{path} is missing"
            data = path.read_bytes()
            expected = stats.get("checksums", {}).get(kind)
            if expected and checksum(data.decode("utf-8", errors="replace")) != expected:
                return f"{path} does not match its checksum in shards/{stats['shard']}.json"
            if sum(1 for line in data.splitlines() if line.strip()) != count:
                return f"{path} does not hold the {count} records its marker counts"
        return None

    def set_aside(self, shard: str) -> None:
        """Move a shard's files to stale/ (marker first, so it no longer counts as finished)."""
        for kind, suffix in (("shards", ".json"), ("records", ".jsonl"), ("rejects", ".jsonl")):
            path = self.path / kind / f"{shard}{suffix}"
            if path.exists():
                (self.path / "stale" / kind).mkdir(parents=True, exist_ok=True)
                os.replace(path, self.path / "stale" / kind / path.name)

    def in_order(self, shards: Iterable[str]) -> Iterator[Record]:
        """Kept and rejected records of the shards, in the order they were generated."""
        markers = {s["shard"]: s for s in self.shard_stats()}
        for name in shards:
            kept = read_jsonl(self.path / "records" / f"{name}.jsonl")
            rejected = read_jsonl(self.path / "rejects" / f"{name}.jsonl")
            for letter in markers[name].get("order", ""):
                yield next(kept) if letter == "k" else next(rejected)
            yield from kept  # markers written before `order` existed: kept, then rejected
            yield from rejected

    def write_json(self, name: str, data: Any) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, default=str))

    # -- reading ---------------------------------------------------------------------------------
    def shard_stats(self) -> list[dict[str, Any]]:
        folder = self.path / "shards"
        if not folder.is_dir():
            return []
        # a write killed halfway leaves its temporary (.tmp-NAME), never a marker
        return [load_json(p) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]

    def finished(self) -> list[str]:
        return [s["shard"] for s in self.shard_stats()]

    def records(self, shards: Iterable[str] | None = None) -> Iterator[Record]:
        yield from self._read("records", shards)

    def rejects(self, shards: Iterable[str] | None = None) -> Iterator[Record]:
        yield from self._read("rejects", shards)

    def _read(self, kind: str, shards: Iterable[str] | None) -> Iterator[Record]:
        for name in (self.finished() if shards is None else shards):
            yield from read_jsonl(self.path / kind / f"{name}.jsonl")

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
    def summarize(self, filter_order: list[str]) -> dict[str, Any]:
        """stats.json: totals per generator and the filter funnel, summed over finished shards."""
        gens: dict[str, Counter] = defaultdict(Counter)
        discarded: dict[str, Counter] = defaultdict(Counter)
        funnel: dict[str, dict[str, Any]] = {f: {"in": 0, "out": 0, "reasons": Counter()} for f in filter_order}
        for s in self.shard_stats():
            g = gens[s["generator"]]
            for key in ("generated", "kept", "rejected", "prompt_tokens", "completion_tokens", "filter_tokens"):
                g[key] += s.get(key, 0)
            g["batches"] += 1
            g["seconds"] += s.get("seconds", 0.0)
            g["filter_seconds"] += s.get("filter_seconds", 0.0)
            discarded[s["generator"]].update(s.get("discarded", {}))
            for fname, fs in s.get("filters", {}).items():
                f = funnel.setdefault(fname, {"in": 0, "out": 0, "reasons": Counter()})
                f["in"] += fs["in"]
                f["out"] += fs["out"]
                f["reasons"].update(fs["reasons"])
        generators = {}
        for name, g in gens.items():
            secs = g["seconds"] or 1e-9
            generators[name] = {**g, "seconds": round(g["seconds"], 3), "filter_seconds": round(g["filter_seconds"], 3),
                                "records_per_s": round(g["generated"] / secs, 3),
                                "tokens_per_s": round(g["completion_tokens"] / secs, 1),
                                "discarded": dict(discarded[name])}
        for f in funnel.values():
            f["rejected"] = f["in"] - f["out"]
            f["reasons"] = dict(f["reasons"].most_common())
        return {
            "generated": sum(g["generated"] for g in gens.values()),
            "kept": sum(g["kept"] for g in gens.values()),
            "rejected": sum(g["rejected"] for g in gens.values()),
            "generators": generators,
            "filters": funnel,
        }
