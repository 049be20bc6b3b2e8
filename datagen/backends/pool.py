"""Process-parallel generation: several copies of one backend, each in its own process, share each call.

On a CPU, llama.cpp gets more tokens/s from several single-thread processes than from one process with several
threads (benchmarks/generation.py compares the two). Workers are started with 'spawn' and load the model
themselves: a native model library loaded before a fork can hang the child.
Per-input seeds (see SamplingParams) keep results independent of how inputs land on workers.
A worker exits as soon as the process that started it is gone (even after a SIGKILL, which runs no clean-up), and
an engine that fails to load in a worker reports its own error on the first call instead of breaking the pool.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from datagen.backends.base import Backend, Completion, Messages, SamplingParams
from datagen.backends.build import build_single

if TYPE_CHECKING:
    from datagen.config import BackendConfig

_worker_backend: Backend | None = None
_worker_error: BaseException | None = None


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


class PoolBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, workers: int, threads: int | None, name: str) -> None:
        super().__init__(config.model)
        self.name = name
        self.workers = workers
        self.threads = threads
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(config, threads, os.getpid()))
        self._end_of_turn: list[str] | None = None
        try:
            self.model = self.executor.submit(_model_id).result()  # the engine's own id (e.g. the GGUF's name)
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, *args: Any) -> Any:
        return self.executor.submit(_run, method, args).result()

    def _split(self, method: str, items: list, params: SamplingParams) -> list[list[Completion]]:
        # several small slices per worker so a slow slice does not leave the other workers idle
        size = max(1, math.ceil(len(items) / (self.workers * 4)))
        futures = [self.executor.submit(_run, method, (items[s:s + size], params.shifted(s)))
                   for s in range(0, len(items), size)]
        return [choices for f in futures for choices in f.result()]

    @property
    def end_of_turn(self) -> list[str]:
        if self._end_of_turn is None:
            self._end_of_turn = self.executor.submit(_end_of_turn).result()
        return self._end_of_turn

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _model_id() -> str:
    return _engine().model


def _end_of_turn() -> list[str]:
    return _engine().end_of_turn
