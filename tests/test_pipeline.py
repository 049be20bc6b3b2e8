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

from datagen.config import validate_config
from datagen.output import RunFolder
from datagen.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parent.parent


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
