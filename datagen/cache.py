"""The call cache: every model answer stored on disk, so a rerun, a resume or a changed filter costs nothing.

One SQLite file (WAL mode) holds one row per model input, keyed by a hash of the engine (backend type, model
and options, with the defaults of those left out; not workers or threads, which do not change answers), the call
kind, the prompt or messages, and the sampling params with that input's own seed (and the output schema). Each
call's answers are written in one transaction, so several processes can share the file and a process killed
mid-write leaves only whole rows.
Unseeded sampling (temperature > 0, seed None) is not cached: its answers are meant to differ between calls.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from datagen.backends.base import Backend, Completion, Messages, SamplingParams, Usage
from datagen.registry import BACKENDS

if TYPE_CHECKING:
    from datagen.config import BackendConfig

# options of a backend block that decide how the work is spread or reused, not what the model answers
_NOT_IN_KEY = ("workers", "threads", "prefix_states")


class CallStore:
    """The SQLite file: key -> JSON list of completions; oldest rows pruned past `max_bytes`."""

    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most the last commits, whole
        self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                        "size INTEGER NOT NULL, created REAL NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS calls_created ON calls (created)")
        self.db.execute("CREATE TABLE IF NOT EXISTS engines (key TEXT PRIMARY KEY, model TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, list[Completion]]:
        found: dict[str, list[Completion]] = {}
        with self.lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = self.db.execute(f"SELECT key, value FROM calls WHERE key IN ({','.join('?' * len(chunk))})",
                                       chunk).fetchall()
                found.update((k, [Completion(**c) for c in json.loads(v)]) for k, v in rows)
        return found

    def put_many(self, items: dict[str, list[Completion]]) -> None:
        now = time.time()
        rows = []
        for key, choices in items.items():
            value = json.dumps([asdict(c) for c in choices])
            rows.append((key, value, len(value), now))
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", rows)
                self._prune()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _prune(self) -> None:
        if not self.max_bytes:
            return
        total = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM calls").fetchone()[0]
        if total <= self.max_bytes:
            return
        # drop the oldest rows until the store is back under 90% of its limit
        excess, dropped = total - int(self.max_bytes * 0.9), 0
        for key, size in self.db.execute("SELECT key, size FROM calls ORDER BY created").fetchall():
            if dropped >= excess:
                break
            self.db.execute("DELETE FROM calls WHERE key = ?", (key,))
            dropped += size

    def engine_model(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT model FROM engines WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def remember_engine(self, key: str, model: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO engines VALUES (?, ?)", (key, model))

    def count(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


def engine_key(config: BackendConfig) -> str:
    """A hash of the backend block (never the block itself: it may hold an API key) and of the engine's defaults
    for the options the block leaves out: a changed default (llama.cpp's prompt chunk) changes the answers."""
    block = config.model_dump(exclude=set(_NOT_IN_KEY))
    data = json.dumps([block, engine_defaults(config.type)], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def engine_defaults(kind: str) -> dict[str, Any]:
    try:
        init = inspect.signature(BACKENDS.get(kind).__init__)
    except (KeyError, ImportError):  # an engine that cannot be looked up fails where it is built, saying why
        return {}
    return {name: p.default for name, p in init.parameters.items()
            if p.default is not inspect.Parameter.empty and name not in _NOT_IN_KEY}


class CachedBackend(Backend):
    """A backend that answers from the store where it can and sends only the misses to the engine, which it
    builds on the first miss (a run answered wholly from the cache never loads a model)."""

    def __init__(self, build: Callable[[], Backend], config: BackendConfig, store: CallStore) -> None:
        self._build, self._inner = build, None
        self.engine = engine_key(config)
        self.name = config.type
        self.store = store
        self.usage = Usage()  # shared with the engine: counts only what the engine really ran
        self._building = threading.Lock()  # two threads asking at once build one engine

    @property
    def inner(self) -> Backend:
        with self._building:
            if self._inner is None:
                inner = self._build()
                inner.usage = self.usage
                self.store.remember_engine(self.engine, inner.model)
                self._inner = inner
        return self._inner

    @property
    def model(self) -> str:
        return (self._inner.model if self._inner is not None else
                self.store.engine_model(self.engine) or self.inner.model)

    @property
    def workers(self) -> int:
        return getattr(self._inner, "workers", 1)

    @property
    def concurrent_calls(self) -> bool:  # misses go to the engine as they come: it queues them, or this does not
        return self._inner is not None and self._inner.concurrent_calls

    def key(self, kind: str, item: str | Messages, params: SamplingParams, index: int) -> str:
        sampling = {**params.to_dict(), "seed": params.seed_for(index)}
        data = json.dumps([self.engine, kind, item, sampling], sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()

    def complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self._cached("complete", list(prompts), params)

    def chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        return self._cached("chat", [list(c) for c in conversations], params)

    def _cached(self, kind: str, items: list, params: SamplingParams) -> list[list[Completion]]:
        if params.seed is None and params.temperature > 0:
            return getattr(self.inner, kind)(items, params)
        keys = [self.key(kind, item, params, i) for i, item in enumerate(items)]
        found = self.store.get_many(keys)
        self.usage.add_cache(len(items), sum(k in found for k in keys))
        results = [found.get(k) for k in keys]
        # misses go to the engine in runs of consecutive inputs, each run seeded as in the whole call
        i = 0
        while i < len(items):
            if results[i] is not None:
                i += 1
                continue
            end = i
            while end < len(items) and results[end] is None:
                end += 1
            answers = getattr(self.inner, kind)(items[i:end], params.shifted(i))
            self.store.put_many(dict(zip(keys[i:end], answers)))
            results[i:end] = answers
            i = end
        return results

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        return self.inner.render_chat(messages, add_generation_prompt)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def end_of_turn(self) -> list[str]:
        return self.inner.end_of_turn

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self.inner._complete(prompts, params)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
