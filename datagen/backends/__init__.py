"""Model backends. `build_backend(config)` turns a backend config block into a ready engine."""
from __future__ import annotations

import inspect
import os
from typing import Any

from datagen.backends.base import Backend, Completion, MissingExtra, SamplingParams

__all__ = ["Backend", "Completion", "MissingExtra", "SamplingParams", "build_backend", "build_single",
           "resolve_workers"]

# Keep at least this share of memory free when choosing worker counts.
_MEMORY_SHARE = 0.5


def _config_dict(config: Any) -> dict[str, Any]:
    """The block as a dict, with `NAME_env: VAR` options read from the environment (so keys live nowhere else)."""
    from datagen.secrets import read_secrets

    return read_secrets(config.model_dump() if hasattr(config, "model_dump") else dict(config))


def resolve_workers(config: dict[str, Any]) -> tuple[int, int | None]:
    """(workers, threads per worker). 'auto' means one single-thread llama.cpp process per core, as many as
    fit in half the memory; other engines parallelise internally and get one worker."""
    workers, threads = config.get("workers", "auto"), config.get("threads")
    if workers != "auto":
        return int(workers), threads
    if config.get("type", "llamacpp") != "llamacpp":
        return 1, threads
    cores = os.cpu_count() or 1
    threads = threads or 1
    by_cores = max(1, cores // threads)
    try:
        from datagen.backends.embedded import resolve_model_path

        size = resolve_model_path(config.get("model", "embedded")).stat().st_size
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        by_memory = max(1, int(memory * _MEMORY_SHARE // (size * 1.5)))
    except (OSError, ValueError):
        by_memory = by_cores
    workers = min(by_cores, by_memory)
    return workers, (threads if workers > 1 else None)


def build_single(config: dict[str, Any]) -> Backend:
    """One engine in this process."""
    from datagen.registry import BACKENDS

    config = _config_dict(config)
    cls = BACKENDS.get(config.pop("type", "llamacpp"))
    config.pop("workers", None)
    threads = config.pop("threads", None)
    if threads and "threads" in inspect.signature(cls.__init__).parameters:
        config["threads"] = threads
    return cls(**config)


def build_backend(config: Any, executor: str = "local", ray: Any = None) -> Backend:
    """An engine from a backend config block, as a worker pool when more than one worker is asked for;
    with executor "ray", as Ray actors sized by the `ray` block (RayConfig)."""
    data = _config_dict(config)
    if executor == "ray":
        from datagen.backends.ray_pool import RayPoolBackend

        return RayPoolBackend(data, ray)
    workers, threads = resolve_workers(data)
    if workers <= 1:
        return build_single({**data, "threads": threads})
    from datagen.backends.pool import PoolBackend
    from datagen.registry import BACKENDS

    cls = BACKENDS.get(data.get("type", "llamacpp"))
    model = data.get("model", "embedded")
    return PoolBackend({**data, "threads": threads}, workers, cls.name, model)
