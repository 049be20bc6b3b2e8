"""`executor: ray`: each backend call is shared by Ray actors, each holding one engine (one vLLM engine per GPU,
or one llama.cpp process per CPU slot), on this machine or across a cluster.

The Ray counterpart of PoolBackend: generators, filters, shard writing, resume and dedup stay in the driver;
only model calls go out, sliced in input order, with per-input seeds (SamplingParams.shifted), so the records do
not depend on how many actors there are or which one ran a slice. A dead actor is restarted by Ray
(`max_restarts`) and its unfinished calls are retried there (`max_task_retries`): a call is deterministic for
its seed, so a retry returns what the lost call would have.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from datagen.backends.base import Completion, SamplingParams
from datagen.backends.build import build_single
from datagen.backends.pool import RemoteBackend
from datagen.config import BackendConfig, RayConfig
from datagen.registry import BACKENDS

# Text in and out is small; a local instance needs no large shared-memory object store.
_LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
# Slices per actor in one call: more than one, so an actor that drew long answers does not hold up the rest.
_SLICES_PER_WORKER = 2
# How many backends use the Ray connection this process opened (0: none opened here, or one opened by the caller).
_started = {"users": 0}


class _Worker:
    """One engine in one Ray worker process."""

    def __init__(self, config: BackendConfig, threads: int) -> None:
        self.backend = build_single(config, threads)

    def run(self, method: str, args: tuple) -> Any:
        return getattr(self.backend, method)(*args)

    def describe(self) -> dict[str, Any]:
        import ray

        return {"name": self.backend.name, "model": self.backend.model, "end_of_turn": self.backend.end_of_turn,
                "pid": os.getpid(), "node": ray.util.get_node_ip_address()}


def _ray_config(ray_block: Any) -> RayConfig:
    if ray_block is None:
        return RayConfig()
    return ray_block if isinstance(ray_block, RayConfig) else RayConfig.model_validate(ray_block)


def _connect(cfg: RayConfig) -> None:
    """Join the cluster named in the config or RAY_ADDRESS, else start a local instance (once per process)."""
    import ray

    if ray.is_initialized():
        if _started["users"]:
            _started["users"] += 1
        return
    # workers import the same datagen as this driver (a source checkout on a shared filesystem included)
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env,
                 object_store_memory=_LOCAL_OBJECT_STORE_BYTES)
    _started["users"] = 1  # shutdown at the last close stops a local instance, or only disconnects from a cluster


def _release() -> None:
    import ray

    if _started["users"]:
        _started["users"] -= 1
        if not _started["users"]:
            ray.shutdown()


def worker_resources(config: BackendConfig, cfg: RayConfig) -> tuple[float, float]:
    """(CPUs, GPUs) one actor asks for: the GPUs as the ray block gives them, else as the engine needs them."""
    gpus = cfg.num_gpus_per_worker
    if gpus is None:
        gpus = BACKENDS.get(config.type).gpus_per_actor(config)
    return cfg.num_cpus_per_worker, gpus


def count_workers(cfg: RayConfig, cpus: float, gpus: float, available: dict[str, float]) -> int:
    """`workers` from the config, or as many actors as the cluster's free CPUs and GPUs hold (free: a second
    backend, such as a safety filter's model, finds what the first one left)."""
    if cfg.workers != "auto":
        return int(cfg.workers)
    fits = [available.get("CPU", 0) // cpus]
    if gpus:
        fits.append(available.get("GPU", 0) // gpus)
    workers = int(min(fits))
    if workers < 1:
        raise RuntimeError(f"the Ray cluster ({available.get('CPU', 0):g} CPUs, {available.get('GPU', 0):g} GPUs free) "
                           f"cannot hold one backend actor needing {cpus:g} CPUs and {gpus:g} GPUs; "
                           f"lower ray.num_cpus_per_worker / ray.num_gpus_per_worker")
    return workers


class RayPoolBackend(RemoteBackend):
    def __init__(self, config: BackendConfig, ray_block: Any = None) -> None:
        import ray

        self.actors: list[Any] | None = None
        cfg = _ray_config(ray_block)
        _connect(cfg)
        self.actors = []
        try:
            cpus, gpus = worker_resources(config, cfg)
            self.workers = count_workers(cfg, cpus, gpus, ray.available_resources())
            # a llama.cpp actor uses the CPUs it reserved, unless the backend block says otherwise
            threads = config.threads or max(1, int(cpus))
            actor = ray.remote(_Worker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=cfg.max_restarts,
                                                max_task_retries=-1)
            self.actors = [actor.remote(config, threads) for _ in range(self.workers)]
            # waits for every actor's engine, so a backend that fails to build fails here
            self.described = ray.get([a.describe.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise
        about = self.described[0]
        super().__init__(about["model"])
        self.name = about["name"]
        self._end_of_turn = about["end_of_turn"]

    def _split(self, method: str, items: list, params: SamplingParams) -> list[list[Completion]]:
        import ray

        size = max(1, math.ceil(len(items) / (self.workers * _SLICES_PER_WORKER)))
        # each actor queues its slices itself, so calls from several threads at once (two batches in flight) do
        # not mix their results, as a shared ray.util.ActorPool would
        actors = self.actors
        futures = [actors[i % len(actors)].run.remote(method, (items[s:s + size], params.shifted(s)))
                   for i, s in enumerate(range(0, len(items), size))]
        return [choices for part in ray.get(futures) for choices in part]

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(self.actors[0].run.remote(method, args))

    @property
    def end_of_turn(self) -> list[str]:
        return self._end_of_turn

    def close(self) -> None:
        import ray

        if getattr(self, "actors", None) is None:
            return  # closed already
        actors, self.actors = self.actors, None
        for actor in actors:
            ray.kill(actor, no_restart=True)
        _release()
