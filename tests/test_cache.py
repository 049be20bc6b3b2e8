"""The call cache: per-input keys and seeds, a rerun with no model call, two writer processes, SIGKILL."""
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from datagen.backends.base import Backend, Completion, SamplingParams
from datagen.cache import CachedBackend, CallStore
from datagen.config import BackendConfig, validate_config
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parent.parent


class Echo(Backend):
    """Answers `prompt@seed`, and remembers what it was asked."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__("echo-model")
        self.asked: list[tuple[str, int | None]] = []

    def render_chat(self, messages, add_generation_prompt=True):
        return "|".join(m["content"] for m in messages)

    def _complete(self, prompts, params):
        self.asked += [(p, params.seed_for(i)) for i, p in enumerate(prompts)]
        return [[Completion(f"{p}@{params.seed_for(i, j)}", "stop", 1, 1) for j in range(params.n)]
                for i, p in enumerate(prompts)]


def cached(tmp_path, engine, config=None):
    block = BackendConfig.model_validate(config or {"type": "echo", "model": "m", "workers": 1})
    return CachedBackend(lambda: engine, block, CallStore(tmp_path / "calls.sqlite"))


def test_only_misses_reach_the_engine_each_with_its_own_seed(tmp_path):
    engine = Echo()
    backend = cached(tmp_path, engine)
    params = SamplingParams(seed=100, n=2)
    first = backend.complete(["a", "b", "c"], params)
    assert [c.text for c in first[2]] == ["c@104", "c@105"]
    engine.asked.clear()
    again = backend.complete(["a", "x", "c", "y"], params)
    # x and y are inputs 1 and 3 of this call, so they get seeds 102 and 106, as without the cache
    assert engine.asked == [("x", 102), ("y", 106)]
    assert [[c.text for c in r] for r in again] == [["a@100", "a@101"], ["x@102", "x@103"],
                                                    ["c@104", "c@105"], ["y@106", "y@107"]]
    assert (backend.usage.cache_asked, backend.usage.cache_hits) == (7, 2)
    # another seed, another schema or another engine option is another key
    engine.asked.clear()
    backend.complete(["a"], params.replace(seed=7))
    other = cached(tmp_path, engine, {"type": "echo", "model": "m", "chat_template": "chatml"})
    other.complete(["a"], params)
    assert [p for p, _ in engine.asked] == ["a", "a"]
    # workers do not change answers, so they are not part of the key
    same = cached(tmp_path, engine, {"type": "echo", "model": "m", "workers": 4})
    engine.asked.clear()
    assert same.complete(["a"], params)[0][0].text == "a@100" and engine.asked == []


def test_unseeded_sampling_is_not_cached(tmp_path):
    engine = Echo()
    backend = cached(tmp_path, engine)
    backend.complete(["a"], SamplingParams(temperature=0.8))
    backend.complete(["a"], SamplingParams(temperature=0.8))
    assert len(engine.asked) == 2 and backend.usage.cache_asked == 0
    backend.complete(["a"], SamplingParams(temperature=0.0))
    backend.complete(["a"], SamplingParams(temperature=0.0))
    assert len(engine.asked) == 3 and backend.usage.cache_hits == 1


def test_store_prunes_oldest_rows_past_its_size(tmp_path):
    store = CallStore(tmp_path / "c.sqlite", max_bytes=20_000)
    for i in range(50):
        store.put_many({f"k{i}": [Completion("x" * 1000)]})
    assert 10 <= store.count() <= 20
    assert store.get_many(["k49"]) and not store.get_many(["k0"])


def answer_config(name, cache=None):
    config = {"name": name, "seed": 3,
              "backend": {"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 1},
              "generators": [{"type": "answer", "file": str(ROOT / "seeds/instructions.txt"), "count": 4,
                              "batch_size": 2, "max_tokens": 12, "temperature": 0.8}],
              "filters": [{"type": "length", "min_response_words": 1}]}
    return {**config, "cache": cache} if cache else config


def records(path):
    folder = RunFolder(path)
    return sorted((r.id, r.response) for r in [*folder.records(), *folder.rejects()])


def test_rerun_with_restart_makes_no_model_call(run_in):
    first = run_pipeline(validate_config(answer_config("c")), quiet=True)
    assert first.stats["cache"] == {"calls": 4, "hits": 0}
    assert (run_in / "outputs/.cache/calls.sqlite").is_file()
    again = run_pipeline(validate_config(answer_config("c")), quiet=True, restart=True)
    stats = json.loads((again.path / "stats.json").read_text())
    assert stats["cache"] == {"calls": 4, "hits": 4}
    gen = stats["generators"]["answer"]
    assert (gen["cache_calls"], gen["cache_hits"], gen["prompt_tokens"], gen["completion_tokens"]) == (4, 4, 0, 0)
    assert records(again.path) == records(first.path) and len(records(first.path)) == 4
    # provenance still names the engine's model, though no engine was built
    assert next(RunFolder(again.path).records()).provenance.model.startswith("embedded:")
    off = run_pipeline(validate_config(answer_config("c", {"enabled": False})), quiet=True, restart=True)
    assert off.stats["cache"] == {"calls": 0, "hits": 0} and off.stats["generators"]["answer"]["completion_tokens"] > 0
    assert records(off.path) == records(first.path)


def _writer(path: str, worker: int, rounds: int) -> None:
    store = CallStore(path)
    for r in range(rounds):
        # half the keys are this worker's own, half are written by both workers
        store.put_many({f"w{worker}-{r}-{i}": [Completion(f"{worker}:{r}:{i}")] for i in range(20)}
                       | {f"both-{r}-{i}": [Completion(f"both:{r}:{i}")] for i in range(20)})
    store.close()


def test_two_processes_write_at_once(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    CallStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = CallStore(path)
    assert store.count() == 2 * 40 * 20 + 40 * 20
    assert store.get_many(["w1-39-19"])["w1-39-19"][0].text == "1:39:19"
    assert store.get_many(["both-7-3"])["both-7-3"][0].text == "both:7:3"


KILLED_WRITER = """
import sys
from datagen.backends.base import Completion
from datagen.cache import CallStore
store = CallStore(sys.argv[1])
for r in range(100000):
    store.put_many({f"{r}-{i}": [Completion(str(r) * 2000)] for i in range(50)})
"""


def test_sigkill_mid_write_leaves_a_usable_cache(tmp_path):
    path = tmp_path / "killed.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            with sqlite3.connect(path, timeout=5) as db:
                if db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] >= 500:
                    break
        except sqlite3.OperationalError:
            pass  # the table is not there yet
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = CallStore(path)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = store.db.execute("SELECT key, value FROM calls").fetchall()
    assert len(rows) >= 500 and len(rows) % 50 == 0  # whole calls only
    for key, value in rows:
        assert json.loads(value)[0]["text"] == key.split("-")[0] * 2000
    store.put_many({"after": [Completion("ok")]})
    assert store.get_many(["after"])["after"][0].text == "ok"


def test_no_cache_flag(run_in, capsys):
    import yaml

    from datagen.cli import main

    config = answer_config("flag")
    config["generators"][0].update(count=1, batch_size=1, max_tokens=4)
    (run_in / "p.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(run_in / "p.yaml"), "--quiet", "--no-cache"]) == 0
    assert not (run_in / "outputs/.cache").exists()
    assert main(["run", str(run_in / "p.yaml"), "--quiet", "--restart"]) == 0
    assert "cache: 0 of 1 model inputs answered from the cache" in capsys.readouterr().out


def test_an_api_key_in_the_backend_block_never_reaches_the_file(tmp_path):
    backend = cached(tmp_path, Echo(), {"type": "openai", "model": "m", "api_key": "sk-secret-123"})
    backend.complete(["a"], SamplingParams(seed=1))
    assert backend.model == "echo-model"
    assert b"sk-secret-123" not in (tmp_path / "calls.sqlite").read_bytes()
    for extra in tmp_path.glob("calls.sqlite-*"):  # WAL and shared-memory files
        assert b"sk-secret-123" not in extra.read_bytes()


def test_a_changed_engine_default_changes_the_cache_key(monkeypatch):
    """Answers cached under one default (llama.cpp's prompt chunk) are not served after the default changes."""
    from datagen.backends.llamacpp import LlamaCppBackend
    from datagen.cache import engine_key
    from datagen.config import BackendConfig

    config = BackendConfig(type="llamacpp", model="embedded")
    before = engine_key(config)
    assert engine_key(BackendConfig(type="llamacpp", model="embedded", workers=3, threads=1)) == before
    monkeypatch.setattr(LlamaCppBackend.__init__, "__defaults__",
                        tuple(32 if d == 16 else d for d in LlamaCppBackend.__init__.__defaults__))
    assert engine_key(config) != before
