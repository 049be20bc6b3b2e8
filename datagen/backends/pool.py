"""Process-parallel generation: several copies of one backend, each in its own process, share each call.

On a CPU, llama.cpp gets more tokens/s from several single-thread processes than from one process with several
threads (benchmarks/generation.py compares the two). Workers are started with 'spawn' and load the model
themselves: a native model library loaded before a fork can hang the child.
Each worker process has a feeder thread that takes its next slice of inputs from one queue: among the oldest
waiting slices, the one whose first input shares a longer head with what this worker ran recently than with what
the other workers ran. Prompts with one few-shot header or one passage then go where that head is already
evaluated (the engine reuses it), and the other workers start on other heads, instead of every worker evaluating
every head. Per-input seeds (see SamplingParams) keep results independent of how inputs land on workers.
A worker exits as soon as the process that started it is gone (even after a SIGKILL, which runs no clean-up), and
an engine that fails to load in a worker reports its own error on the first call instead of breaking the pool.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datagen.backends.base import Backend, Completion, Messages, SamplingParams
from datagen.backends.build import build_single

if TYPE_CHECKING:
    from datagen.config import BackendConfig

_worker_backend: Backend | None = None
_worker_error: BaseException | None = None
_RECENT = 8  # inputs a worker ran last, compared with waiting ones (its engine keeps about as many heads)
_WINDOW = 4  # per worker: how far past the oldest waiting slice a worker may look (bounds any slice's wait)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(config: BackendConfig, threads: int | None, parent: int) -> None:
    global _worker_backend, _worker_error
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        _worker_backend = build_single(config, threads)
    except Exception as err:  # raised again by each call, so the caller sees the cause
        _worker_error = err


def _engine() -> Backend:
    if _worker_error is not None:
        raise _worker_error
    assert _worker_backend is not None
    return _worker_backend


def _run(method: str, args: tuple) -> Any:
    return getattr(_engine(), method)(*args)


class RemoteBackend(Backend):
    """A backend whose engines live in other processes: `_split` shares a call among them in input order,
    `_call` asks one of them."""

    concurrent_calls = True  # the workers queue the calls

    def _split(self, method: str, items: list, params: SamplingParams) -> list[list[Completion]]:
        raise NotImplementedError

    def _call(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        return self._split("_complete", prompts, params)

    def _chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        return self._split("_chat", conversations, params)

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        return self._call("render_chat", messages, add_generation_prompt)

    def count_tokens(self, text: str) -> int:
        return self._call("count_tokens", text)


def shared_head(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings (binary search over C-speed slice comparisons)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def input_text(item: Any) -> str:
    """A prompt, or a conversation flattened in order: inputs that share a head share a prefix of this text."""
    if isinstance(item, str):
        return item
    return "".join(f"{m.get('role')}\n{m.get('content')}\n" for m in item)


@dataclass
class _Slice:
    method: str
    args: tuple
    head: str  # the slice's first input, as text
    future: Future = field(default_factory=Future)


class _Queue:
    """Waiting slices, each handed to the worker that ran the most similar inputs recently."""

    def __init__(self, workers: int) -> None:
        self.waiting: list[_Slice] = []
        self.recent = [deque(maxlen=_RECENT) for _ in range(workers)]
        self.window = _WINDOW * workers
        self.closed = False
        self.changed = threading.Condition()

    def put(self, slices: list[_Slice]) -> None:
        with self.changed:
            if self.closed:
                raise RuntimeError("the backend is closed")
            self.waiting += slices
            self.changed.notify_all()

    def take(self, worker: int) -> _Slice | None:
        with self.changed:
            while not self.waiting and not self.closed:
                self.changed.wait()
            if self.closed:
                return None
            window = self.waiting[:self.window]
            best = max(range(len(window)), key=lambda i: (self._affinity(window[i].head, worker), -i))  # ties: oldest
            self.recent[worker].append(window[best].head)
            return self.waiting.pop(best)

    def _affinity(self, head: str, worker: int) -> int:
        """How much longer a head this worker shares with the input than any other worker does: a worker takes
        what it has evaluated itself, and otherwise what no other worker has (a new passage, not the one that
        another worker is reading)."""
        shared = [max((shared_head(head, r) for r in recent), default=0) for recent in self.recent]
        return shared[worker] - max((n for w, n in enumerate(shared) if w != worker), default=0)

    def close(self) -> list[_Slice]:
        with self.changed:
            self.closed = True
            left, self.waiting = self.waiting, []
            self.changed.notify_all()
        return left


class PoolBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, workers: int, threads: int | None, name: str) -> None:
        super().__init__(config.model)
        self.name = name
        self.workers = workers
        self.threads = threads
        context = multiprocessing.get_context("spawn")
        self.engines = [ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker,
                                            initargs=(config, threads, os.getpid())) for _ in range(workers)]
        self.queue = _Queue(workers)
        self.feeders = [threading.Thread(target=self._feed, args=(i,), daemon=True, name=f"{name}-feeder-{i}")
                        for i in range(workers)]
        for feeder in self.feeders:
            feeder.start()
        self._end_of_turn: list[str] | None = None
        try:  # every worker loads its engine now, side by side; the first one's id names the model
            loaded = [engine.submit(_model_id) for engine in self.engines]
            self.model = [f.result() for f in loaded][0]  # the engine's own id (e.g. the GGUF's name)
        except BaseException:
            self.close()
            raise

    def _feed(self, worker: int) -> None:
        engine = self.engines[worker]
        while (task := self.queue.take(worker)) is not None:
            if not task.future.set_running_or_notify_cancel():
                continue
            try:
                task.future.set_result(engine.submit(_run, task.method, task.args).result())
            except BaseException as err:  # the caller gets the engine's own error
                task.future.set_exception(err)

    def _call(self, method: str, *args: Any) -> Any:
        return self.engines[0].submit(_run, method, args).result()

    def _split(self, method: str, items: list, params: SamplingParams) -> list[list[Completion]]:
        # several small slices per worker so a slow slice does not leave the other workers idle
        size = max(1, math.ceil(len(items) / (self.workers * 4)))
        slices = [_Slice(method, (items[s:s + size], params.shifted(s)), input_text(items[s]))
                  for s in range(0, len(items), size)]
        self.queue.put(slices)
        return [choices for task in slices for choices in task.future.result()]

    @property
    def end_of_turn(self) -> list[str]:
        if self._end_of_turn is None:
            self._end_of_turn = self.engines[0].submit(_end_of_turn).result()
        return self._end_of_turn

    def close(self) -> None:
        for task in self.queue.close():
            task.future.cancel()
        for engine in self.engines:
            engine.shutdown(wait=True, cancel_futures=True)
        for feeder in self.feeders:
            feeder.join(timeout=5)


def _model_id() -> str:
    return _engine().model


def _end_of_turn() -> list[str]:
    return _engine().end_of_turn
