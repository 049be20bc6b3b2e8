"""The runner on real model output: shards, stats, determinism, and resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from datagen.backends.base import Backend
from datagen.config import validate_config
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parent.parent


class ChatOnly(Backend):
    """A stand-in engine for the answer generator, which only chats; subclasses answer in `_chat`."""

    concurrent_calls = True

    def render_chat(self, messages, add_generation_prompt=True):
        return messages[-1]["content"]

    def _complete(self, prompts, params):
        raise AssertionError("the answer generator chats")


def answer_config(name="t", count=8, batch_size=2, workers=1, filters=None, max_tokens=24, temperature=0.8):
    return {
        "name": name, "seed": 5,
        "backend": {"type": "llamacpp", "model": "embedded", "workers": workers, "threads": 1},
        "generators": [{"type": "answer", "file": str(ROOT / "seeds/instructions.txt"), "count": count,
                        "batch_size": batch_size, "max_tokens": max_tokens, "temperature": temperature}],
        "filters": filters if filters is not None else [{"type": "length", "min_response_words": 4}],
    }


def texts(folder: RunFolder):
    return sorted((r.id, r.instruction, r.response) for r in [*folder.records(), *folder.rejects()])


def test_run_writes_shards_stats_parquet_and_provenance(run_in):
    result = run_pipeline(validate_config(answer_config(count=6, batch_size=4)), quiet=True)
    folder = RunFolder(result.path)
    assert sorted(folder.finished()) == ["00-answer-000000", "00-answer-000001"]
    stats = json.loads((result.path / "stats.json").read_text())
    kept, rejected = list(folder.records()), list(folder.rejects())
    assert stats["generated"] == 6 == len(kept) + len(rejected)
    assert stats["kept"] == len(kept) and stats["filters"]["length"]["in"] == 6
    assert sum(stats["filters"]["length"]["reasons"].values()) == len(rejected)
    assert stats["generators"]["answer"]["completion_tokens"] > 0
    for r in rejected:
        assert r.rejection().reason.startswith("assistant turn shorter")
    r = kept[0] if kept else rejected[0]
    assert r.provenance.generator == "answer" and r.provenance.model.startswith("embedded:")
    assert r.provenance.sampling["temperature"] == 0.8 and r.provenance.sources[0].startswith("instructions.txt:")
    assert pq.read_table(result.path / "records.parquet").num_rows == len(kept)
    from datasets import load_dataset

    table = load_dataset("parquet", data_files=str(result.path / "records.parquet"), split="train")
    assert table.num_rows == len(kept) and table[0]["messages"][-1]["role"] == "assistant"
    assert yaml.safe_load((result.path / "config.yaml").read_text())["name"] == "t"


def test_same_seed_same_records_whatever_the_worker_count(run_in):
    one = run_pipeline(validate_config({**answer_config(name="a", count=4, batch_size=4)}), quiet=True)
    two = run_pipeline(validate_config({**answer_config(name="b", count=4, batch_size=4, workers=2),
                                        "cache": {"enabled": False}}), quiet=True)  # the engine answers, not the cache
    assert texts(RunFolder(one.path)) == texts(RunFolder(two.path))
    assert len(texts(RunFolder(one.path))) == 4


def test_changed_config_refuses_to_resume(run_in):
    import pytest

    from datagen.config import ConfigError

    run_pipeline(validate_config(answer_config(count=2, batch_size=2, max_tokens=8)), quiet=True)
    changed = answer_config(count=2, batch_size=2, max_tokens=9)
    with pytest.raises(ConfigError, match="--restart"):
        run_pipeline(validate_config(changed), quiet=True)
    assert run_pipeline(validate_config(changed), quiet=True, restart=True).stats["generated"] == 2


def test_sigkill_then_rerun_loses_nothing_and_duplicates_nothing(run_in):
    config = answer_config(name="killed", count=12, batch_size=2)
    path = run_in / "killed.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "datagen.cli", "run", str(path), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shards = run_in / "outputs/killed/shards"
    proc = subprocess.Popen(cmd, cwd=run_in, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shards.glob("*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, mid-run
    proc.wait()
    finished_before = len(list(shards.glob("*.json")))
    assert 2 <= finished_before < 6, "the kill should land mid-run"

    rerun = subprocess.run(cmd, cwd=run_in, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    resumed = RunFolder(run_in / "outputs/killed")
    assert len(resumed.finished()) == 6
    got = texts(resumed)
    assert len(got) == 12 and len({g[1] for g in got}) == 12  # 12 distinct instructions, each exactly once

    # the same config run straight through gives exactly the same records
    straight = run_pipeline(validate_config({**config, "output_dir": str(run_in / "straight")}), quiet=True)
    assert texts(RunFolder(straight.path)) == got
    assert json.loads((run_in / "outputs/killed/stats.json").read_text())["generated"] == 12


# -- resume equals a straight run -------------------------------------------------------------------

NEAR_WORDS = "red blue green cat dog sun moon tree rock fish bird star".split()


def near_dup_rows(seed=5, n=40):
    """Short instructions from 12 words: many LSH band collisions. With this seed a resume at shards 6-8 decided
    differently when the warm start fed kept records before rejected ones."""
    import random

    rng = random.Random(seed)
    return [{"instruction": " ".join(rng.choice(NEAR_WORDS) for _ in range(rng.choice([3, 4, 5, 6]))),
             "output": f"answer number {i} here"} for i in range(n)]


def near_dup_config(path, out):
    # dedup_near keeps records that length then rejects: they are in rejects/, and the band index (first record
    # per bucket) depends on whether they are replayed before or after the later kept ones
    return validate_config({
        "name": "near", "seed": 1, "output_dir": str(out),
        "generators": [{"type": "import", "sources": [{"path": str(path)}], "cap": None, "count": 40,
                        "batch_size": 4}],
        "filters": [{"type": "dedup_near", "num_perm": 16, "bands": 8, "rows": 2, "threshold": 0.5},
                    {"type": "length", "min_instruction_words": 5, "min_response_words": 1}]})


def verdicts(folder: RunFolder):
    return sorted((r.id, r.instruction, tuple((v.filter, v.keep, v.reason) for v in r.verdicts))
                  for r in [*folder.records(), *folder.rejects()])


def test_resume_decides_like_a_straight_run_with_lsh_dedup(tmp_path):
    import shutil

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in near_dup_rows()))
    straight = RunFolder(run_pipeline(near_dup_config(data, tmp_path / "straight"), quiet=True).path)
    want = verdicts(straight)
    assert sum(1 for r in straight.rejects() if r.rejection().filter == "dedup_near") > 0
    for cut in range(1, 10):
        out = tmp_path / f"cut{cut}"
        shutil.copytree(straight.path, out / "near")
        folder = RunFolder(out / "near")
        for shard in sorted(folder.finished())[cut:]:  # as if killed after `cut` shards
            for kind, suffix in (("shards", ".json"), ("records", ".jsonl"), ("rejects", ".jsonl")):
                (folder.path / kind / f"{shard}{suffix}").unlink()
        shutil.rmtree(folder.path / "done", ignore_errors=True)
        run_pipeline(near_dup_config(data, out), quiet=True)
        assert verdicts(folder) == want, f"resumed after {cut} shards"


# -- secrets --------------------------------------------------------------------------------------

SENTINEL = "sk-SENTINEL-7f3a9c1e5b"


def secret_config(tmp_path, key=SENTINEL):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Name a colour number {i}", "output": f"Colour {i} is red"})
                            + "\n" for i in range(6)))
    return {
        "name": "secret", "output_dir": str(tmp_path / "outputs"),
        "backend": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": key},
        "generators": [{"type": "import", "sources": [{"path": str(data)}], "cap": None, "count": 6,
                        "batch_size": 3, "backend": {"type": "openai", "model": "g", "api_key": key}}],
        "filters": [{"type": "length", "min_instruction_words": 1,
                     "backend": {"type": "openai", "model": "j", "api_key_env": "DATAGEN_TEST_KEY"}}],
        "evaluate": {"judge_backend": {"type": "openai", "model": "judge", "api_key": key}},
        "publish": {"repo_id": "me/secret", "dry_run": True},
    }


def grep(folder: Path, text: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_no_secret_reaches_a_file_or_a_log(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_TEST_KEY", SENTINEL + "-env")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(secret_config(tmp_path)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = []
    for argv in (["run", str(path), "--no-stages"], ["publish", "outputs/secret", "--dry-run", "--repo-id", "me/s",
                                                       "--out", str(tmp_path / "hub")],
                 ["report", "outputs/secret"], ["inspect", "outputs/secret"], ["validate", str(path)]):
        done = subprocess.run([sys.executable, "-m", "datagen.cli", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        logs.append(done.stdout + done.stderr)
    assert (tmp_path / "hub" / "README.md").is_file() and (tmp_path / "outputs/secret/report").is_dir()
    assert grep(tmp_path / "outputs", "SENTINEL") == [] and grep(tmp_path / "hub", "SENTINEL") == []
    assert not any("SENTINEL" in log for log in logs)
    written = yaml.safe_load((tmp_path / "outputs/secret/config.yaml").read_text())
    assert written["backend"]["api_key"] == "<redacted>"
    assert written["filters"][0]["backend"]["api_key_env"] == "DATAGEN_TEST_KEY"  # where it comes from is shown
    assert written["evaluate"]["judge_backend"]["api_key"] == "<redacted>"


def test_changing_only_the_key_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_TEST_KEY", "x")
    first = run_pipeline(validate_config(secret_config(tmp_path, key="sk-one")), quiet=True, stages=False)
    again = run_pipeline(validate_config(secret_config(tmp_path, key="sk-two")), quiet=True, stages=False)
    assert again.path == first.path and again.stats["generated"] == 6


def test_api_key_env_reads_the_environment(monkeypatch):
    import pytest

    from datagen.backends import build_backend
    from datagen.config import ConfigError

    monkeypatch.setenv("DATAGEN_TEST_KEY", SENTINEL)
    backend = build_backend({"type": "openai", "model": "m", "api_key_env": "DATAGEN_TEST_KEY", "workers": 1})
    assert backend.client.api_key == SENTINEL
    monkeypatch.delenv("DATAGEN_TEST_KEY")
    with pytest.raises(ConfigError, match="api_key_env: environment variable 'DATAGEN_TEST_KEY' is not set"):
        build_backend({"type": "openai", "model": "m", "api_key_env": "DATAGEN_TEST_KEY", "workers": 1})
    with pytest.raises(ConfigError, match="give `api_key` or `api_key_env`"):
        validate_config({"name": "x", "backend": {"type": "openai", "model": "m", "api_key": "a",
                                                  "api_key_env": "B"},
                         "generators": [{"type": "answer", "instructions": ["a"]}]})


class _ModelCheckingFilter:
    """A RecordFilter that asks the run's model a short question per record (as judge or LLM safety filters do)
    and notes when it ran, so the test can see that it ran while the next shard was being generated."""

    @staticmethod
    def module():
        import types

        from datagen.backends.base import SamplingParams
        from datagen.filters.base import FilterParams, RecordFilter

        module = types.ModuleType("model_checking_filter")

        class ModelChecking(RecordFilter):
            name = "model_checking"
            Params = FilterParams
            spans: list = []

            def apply(self, records):
                start = time.perf_counter()
                self.ctx.backend.complete([r.response for r in records], SamplingParams(temperature=0, max_tokens=4))
                out = super().apply(records)
                ModelChecking.spans.append((start, time.perf_counter()))
                return out

            def check(self, record):
                return None

        module.ModelChecking = ModelChecking
        return module


def test_filters_run_while_the_next_shard_generates_and_their_tokens_are_counted_apart(tmp_path, monkeypatch):
    from datagen import registry

    module = _ModelCheckingFilter.module()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.FILTERS.entries, "model_checking", "model_checking_filter:ModelChecking")
    generating = []  # (start, end) of the generator's model calls (the answer generator chats)
    real = Backend.chat

    def timed(self, conversations, params):
        start = time.perf_counter()
        try:
            return real(self, conversations, params)
        finally:
            generating.append((start, time.perf_counter()))
    monkeypatch.setattr(Backend, "chat", timed)

    def run(name, filters):
        config = validate_config({**answer_config(name, count=6, batch_size=2, temperature=0.0, max_tokens=16),
                                  "output_dir": str(tmp_path), "filters": filters, "cache": {"enabled": False}})
        return RunFolder(run_pipeline(config, quiet=True).path)

    checked = run("checked", [{"type": "model_checking"}])
    plain = run("plain", [])
    spans = module.ModelChecking.spans
    assert len(spans) == 3
    # shard 0's filter ran while shard 1 was being generated
    assert len(generating) == 6 and any(f0 < g1 and g0 < f1 for f0, f1 in spans[:2] for g0, g1 in generating[:3])
    shards = {name: {s["shard"]: s for s in folder.shard_stats()} for name, folder in
              (("checked", checked), ("plain", plain))}
    assert texts(checked) == texts(plain)
    for shard, stats in shards["checked"].items():
        alone = shards["plain"][shard]
        # the filter's model calls, made side by side with generation, are not counted as generation
        assert (stats["prompt_tokens"], stats["completion_tokens"]) == (alone["prompt_tokens"],
                                                                         alone["completion_tokens"])
        assert stats["filter_tokens"] > 0 and alone["filter_tokens"] == 0


def test_two_batches_are_made_at_a_time_and_each_shard_keeps_its_own_counts(tmp_path):
    """A generator with inputs known up front makes batches N and N+1 side by side (an engine with workers always
    has requests waiting); shards still come in order, each with its own discards and tokens."""
    import threading

    from datagen.backends.base import Completion
    from datagen.registry import BACKENDS

    class SlowEcho(ChatOnly):
        name = "slow-echo"
        active = peak = 0
        lock = threading.Lock()

        def _chat(self, conversations, params):
            with SlowEcho.lock:
                SlowEcho.active += 1
                SlowEcho.peak = max(SlowEcho.peak, SlowEcho.active)
            time.sleep(0.3)
            with SlowEcho.lock:
                SlowEcho.active -= 1
            # an empty answer (discarded by the generator) for every instruction that mentions a number
            return [[Completion("" if any(ch.isdigit() for ch in c[-1]["content"]) else "ok " * 3, "stop",
                                len(c[-1]["content"]), 3, cached_tokens=2)] for c in conversations]

    BACKENDS.register("slow-echo", SlowEcho)
    instructions = [f"Question {i}" if i % 3 == 0 else f"Say something about topic {'abcdefgh'[i]}"
                    for i in range(8)]
    config = validate_config({"name": "side-by-side", "seed": 1, "output_dir": str(tmp_path),
                              "backend": {"type": "slow-echo", "model": "x"}, "cache": {"enabled": False},
                              "generators": [{"type": "answer", "instructions": instructions, "count": 8,
                                              "batch_size": 2}]})
    folder = RunFolder(run_pipeline(config, quiet=True).path)
    assert SlowEcho.peak == 2
    shards = sorted(folder.shard_stats(), key=lambda s: s["batch"])
    assert [s["batch"] for s in shards] == [0, 1, 2, 3]
    for s in shards:
        batch = instructions[2 * s["batch"]:2 * s["batch"] + 2]
        empty = sum(any(ch.isdigit() for ch in text) for text in batch)
        assert s["discarded"] == ({"empty response": empty} if empty else {})
        assert s["completion_tokens"] == 3 * 2 and s["prompt_tokens"] == sum(map(len, batch))
        assert s["cached_prompt_tokens"] == 2 * 2
    assert folder.summarize([])["generators"]["answer"]["cached_prompt_tokens"] == 8 * 2
    assert [r.instruction for r in folder.records()] == [t for t in instructions if not any(c.isdigit() for c in t)]


def test_the_next_generator_starts_while_the_one_before_ends_and_the_shards_stay_the_same(tmp_path, monkeypatch):
    """Two generators on one engine: the second one's first batch is made while the first generator still runs
    (no idle workers at its end), and the run writes what a run that takes the generators in turn writes."""
    import threading

    from datagen.backends.base import Completion
    from datagen.pipeline import Runner
    from datagen.registry import BACKENDS

    class Clocked(ChatOnly):
        name = "clocked"
        calls: list[tuple[str, float, float]] = []  # (first instruction, start, end)
        lock = threading.Lock()

        def _chat(self, conversations, params):
            start = time.perf_counter()
            time.sleep(0.2)
            with Clocked.lock:
                Clocked.calls.append((conversations[0][-1]["content"], start, time.perf_counter()))
            return [[Completion(f"answer to {c[-1]['content']}", "stop", 5, 3)] for c in conversations]

    BACKENDS.register("clocked", Clocked)

    def run(name: str) -> RunFolder:
        Clocked.calls = []
        config = validate_config({"name": name, "seed": 1, "output_dir": str(tmp_path), "cache": {"enabled": False},
                                  "backend": {"type": "clocked", "model": "x"},
                                  "generators": [{"type": "answer", "name": gen, "count": 6, "batch_size": 2,
                                                  "instructions": [f"{gen} question {i}" for i in range(6)]}
                                                 for gen in ("first", "second")]})
        return RunFolder(run_pipeline(config, quiet=True).path)

    def written(folder: RunFolder):
        # all but times, and checksums of records that carry the run's name and creation time
        shards = [{k: v for k, v in s.items() if k not in ("seconds", "filter_seconds", "checksums")}
                  for s in sorted(folder.shard_stats(), key=lambda s: s["shard"])]
        return [(r.instruction, r.response) for r in folder.records()], shards

    early = run("early")
    first_end = max(end for text, _, end in Clocked.calls if text.startswith("first"))
    second_start = min(start for text, start, _ in Clocked.calls if text.startswith("second"))
    assert second_start < first_end
    monkeypatch.setattr(Runner, "start_next_early", False)
    in_turn = run("in-turn")
    assert max(e for t, _, e in Clocked.calls if t.startswith("first")) <= \
        min(s for t, s, _ in Clocked.calls if t.startswith("second"))
    assert written(early) == written(in_turn) and len(written(early)[0]) == 12


def test_lazy_set_up_inside_run_batch_is_safe_with_two_batches_at_a_time(tmp_path, monkeypatch):
    """The first batch runs alone: set-up a generator does on first use inside run_batch (Magpie reads the chat
    template there) is finished before a second batch runs beside it."""
    import types

    from datagen import registry
    from datagen.generators.base import Generator
    from datagen.records import make_record

    class LazySetUp(Generator):
        name = "lazy_set_up"

        def work_items(self):
            return range(self.ctx.count)

        def run_batch(self, items, batch):
            if not hasattr(self, "_started"):
                self._started = True
                time.sleep(0.3)  # a slow first-use set-up, half done while it runs
                self._suffix = "!"
            return [make_record(f"Say {i}", f"{i}{self._suffix}", self.provenance(None, [], batch)) for i in items]

    module = types.ModuleType("lazy_set_up_generator")
    module.LazySetUp = LazySetUp
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.GENERATORS.entries, "lazy_set_up", "lazy_set_up_generator:LazySetUp")
    config = validate_config({"name": "lazy", "output_dir": str(tmp_path),
                              "generators": [{"type": "lazy_set_up", "count": 8, "batch_size": 2}]})
    records = list(RunFolder(run_pipeline(config, quiet=True).path).records())
    assert [r.response for r in records] == [f"{i}!" for i in range(8)]
