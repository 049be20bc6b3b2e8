"""`executor: ray` on a local Ray instance with the embedded model: same sampled records (temperature > 0) as the
local executor, and a worker killed mid-run loses and duplicates nothing."""
import threading
import time
from pathlib import Path

import pytest

import datagen

ray = pytest.importorskip("ray")

from datagen.backends.ray_pool import count_workers, worker_resources  # noqa: E402
from datagen.config import BackendConfig, RayConfig, validate_config  # noqa: E402
from datagen.pipeline import Runner  # noqa: E402


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024**2,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(datagen.__file__).parents[1])}})
    yield
    ray.shutdown()


def pipeline(name, executor, **ray_block):
    return validate_config({
        "name": name, "seed": 11, "executor": executor, "ray": ray_block,
        "backend": {"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 1},
        "generators": [{"type": "answer", "file": "seeds/instructions.txt", "count": 12, "batch_size": 2,
                        "temperature": 0.8, "max_tokens": 24}],
        "filters": [{"type": "length", "min_response_words": 3}],
    })


def outcome(runner):
    def key(r):
        return r.id, r.messages[-1].content, r.provenance.model, [v.reason for v in r.verdicts]

    records = [key(r) for r in runner.folder.records()]
    rejects = [key(r) for r in runner.folder.rejects()]
    return records, rejects, sorted(runner.folder.finished())


def run(config, during=None, after=None):
    runner = Runner(config, quiet=True)
    try:
        if during:
            threading.Thread(target=during, args=(runner,), daemon=True).start()
        runner.generate()
        if after:
            after(runner)
        return outcome(runner), runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def local_outcome(tmp_path_factory):
    config = pipeline("local", "local").model_copy(update={"output_dir": str(tmp_path_factory.mktemp("out"))})
    return run(config)[0]


def with_output(config, tmp_path):
    return config.model_copy(update={"output_dir": str(tmp_path)})


def test_ray_records_equal_local(ray_instance, local_outcome, tmp_path):
    (records, rejects, shards), runner = run(with_output(pipeline("ray", "ray", workers=2), tmp_path))
    assert len(records) + len(rejects) == 12
    assert (records, rejects, shards) == local_outcome
    # the same config resumes across executors: nothing left to generate
    again = Runner(with_output(pipeline("ray", "local"), tmp_path), quiet=True)
    assert again.folder.finished() == runner.folder.finished()


def test_killed_worker_loses_no_records(ray_instance, local_outcome, tmp_path):
    killed = {}

    def kill_when_running(runner):
        # wait until the run is under way (first of 6 shards written, later calls in flight), then kill an actor
        deadline = time.time() + 60
        while time.time() < deadline and not runner.folder.finished():
            time.sleep(0.05)
        engine = next(iter(runner.backends.engines.values())).inner  # behind the call cache
        ray.kill(engine.actors[0], no_restart=False)
        killed["pid"] = engine.described[0]["pid"]

    def restarted_pid(runner):
        engine = next(iter(runner.backends.engines.values())).inner  # behind the call cache
        killed["restarted_pid"] = ray.get(engine.actors[0].describe.remote())["pid"]

    (records, rejects, shards), _ = run(with_output(pipeline("ray-kill", "ray", workers=2), tmp_path),
                                        kill_when_running, restarted_pid)
    assert killed.get("restarted_pid") not in (None, killed["pid"]), "the actor was not killed and restarted"
    assert (records, rejects, shards) == local_outcome
    assert len({r[0] for r in records}) == len(records)


def test_worker_resources_follow_tensor_parallel():
    cfg = RayConfig()
    assert worker_resources(BackendConfig(type="vllm", model="m", tensor_parallel_size=2), cfg) == (1, 2.0)
    assert worker_resources(BackendConfig(type="vllm", model="m"), cfg) == (1, 1.0)
    assert worker_resources(BackendConfig(type="llamacpp"), cfg) == (1, 0.0)
    assert worker_resources(BackendConfig(type="vllm", model="m"), RayConfig(num_gpus_per_worker=0.5)) == (1, 0.5)
    assert count_workers(cfg, 1, 2.0, {"CPU": 32, "GPU": 8}) == 4
    assert count_workers(RayConfig(num_cpus_per_worker=4), 4, 0.0, {"CPU": 10}) == 2
    assert count_workers(RayConfig(workers=3), 1, 0.0, {"CPU": 1}) == 3
    with pytest.raises(RuntimeError, match="cannot hold one backend actor"):
        count_workers(cfg, 1, 1.0, {"CPU": 8})


RECIPES = sorted((Path(__file__).resolve().parents[1] / "pipelines" / "gpu").glob("*.yaml"))


def recipe(path):
    import yaml

    from datagen.config import PipelineConfig

    data = yaml.safe_load(path.read_text())
    return data, PipelineConfig.model_validate(data)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_gpu_recipe_backends_and_ray_blocks_are_valid(path):
    from datagen.config import check_backend

    _, config = recipe(path)
    assert config.executor == "ray" and config.backend.type == "vllm"
    blocks = [("backend", config.backend)] + [(f"filters.{i}.backend", f.backend)
                                              for i, f in enumerate(config.filters) if f.backend]
    for where, backend in blocks:
        check_backend(backend, where, str(path))  # the vLLM engine's own options
        _, gpus = worker_resources(backend, config.ray)
        tensor_parallel = backend.options.get("tensor_parallel_size", 1)
        # an engine split over t GPUs holds t whole GPUs; one on a share of a GPU takes less than its share of memory
        assert gpus == tensor_parallel if tensor_parallel > 1 else 0 < gpus <= 1, where
        assert backend.options.get("gpu_memory_utilization", 0.9) <= min(gpus, 1), where


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_gpu_recipe_validates(path):
    """Every generator and filter of a recipe is registered and takes the recipe's keys (no skip: a recipe that
    names an unknown method is broken)."""
    data, config = recipe(path)
    assert validate_config(data, str(path)).name == config.name
