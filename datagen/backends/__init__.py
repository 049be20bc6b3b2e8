"""Model backends. `build_backend(config)` turns a backend block into a ready engine: one in this process, a pool
of worker processes, or Ray actors. The engine class says how it spreads (Backend.worker_plan, gpus_per_actor)."""
from __future__ import annotations

from typing import Any

from datagen.backends.base import Backend, Completion, MissingExtra, SamplingParams
from datagen.backends.build import build_single
from datagen.backends.pool import PoolBackend
from datagen.backends.ray_pool import RayPoolBackend
from datagen.config import BackendConfig
from datagen.registry import BACKENDS

__all__ = ["Backend", "Completion", "MissingExtra", "SamplingParams", "build_backend", "build_single"]


def build_backend(config: BackendConfig | dict[str, Any], executor: str = "local", ray: Any = None) -> Backend:
    """An engine from a backend block (a dict is validated as one), as a worker pool when the engine's worker plan
    asks for more than one worker; with executor "ray", as Ray actors sized by the `ray` block (RayConfig)."""
    config = BackendConfig.model_validate(config).with_secrets()
    if executor == "ray":
        return RayPoolBackend(config, ray)
    cls = BACKENDS.get(config.type)
    workers, threads = cls.worker_plan(config)
    if workers <= 1:
        return build_single(config, threads)
    return PoolBackend(config, workers, threads, cls.name)
