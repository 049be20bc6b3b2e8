"""Hostile input, everywhere a user can give it: each ends in a clear error naming the file, key or row (no
traceback), or runs on without losing or duplicating a record. docs/reliability.md lists them with the outcome."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from datagen.cli import main
from datagen.config import PROJECT_ROOT
from datagen.run_folder import RunFolder

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def rows(n, start=0):
    return [{"instruction": f"Tell me fact number {i} about the sea", "output": f"Fact {i}: the sea is deep."}
            for i in range(start, start + n)]


def write_jsonl(path, items):
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def pipeline(tmp, name="bad", data="data.jsonl", count=6, batch_size=2, **extra):
    """A model-free pipeline (the import generator) in `tmp`; returns the YAML path."""
    if not (tmp / "data.jsonl").exists():
        write_jsonl(tmp / "data.jsonl", rows(12))
    config = {"name": name, "generators": [{"type": "import", "sources": [{"path": data}], "cap": None,
                                            "count": count, "batch_size": batch_size}],
              "filters": [{"type": "dedup_exact"}], **extra}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def fails(capsys, *argv, match):
    """The CLI exits 2 with a one-line (per problem) error that contains `match`."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert match in err, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def texts(folder):
    return sorted((r.id, r.instruction, tuple((v.filter, v.keep) for v in r.verdicts))
                  for r in [*folder.records(), *folder.rejects()])


# -- the pipeline file -----------------------------------------------------------------------------

def test_malformed_yaml(run_in, capsys):
    (run_in / "p.yaml").write_text("name: [unclosed\n")
    fails(capsys, "validate", run_in / "p.yaml", match="p.yaml: not valid YAML")


def test_non_utf8_yaml(run_in, capsys):
    (run_in / "p.yaml").write_bytes(b"name: caf\xe9\n")
    fails(capsys, "validate", run_in / "p.yaml", match="p.yaml: not UTF-8 text (byte 9")


def test_duplicated_yaml_key_names_key_and_line(run_in, capsys):
    (run_in / "p.yaml").write_text("name: a\nseed: 1\nname: b\n")
    fails(capsys, "validate", run_in / "p.yaml", match="p.yaml: line 3: key 'name' appears twice (first on line 1)")


def test_empty_yaml(run_in, capsys):
    (run_in / "p.yaml").write_text("")
    fails(capsys, "validate", run_in / "p.yaml", match="must be a YAML mapping")


def test_pipeline_path_is_a_folder(run_in, capsys):
    (run_in / "dir.yaml").mkdir()
    fails(capsys, "run", run_in / "dir.yaml", match="dir.yaml: is a folder, not a pipeline file")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x"])
def test_name_that_leaves_output_dir(run_in, capsys, name):
    fails(capsys, "validate", _named(run_in, name), match="name:")


def _named(tmp, name):
    path = pipeline(tmp)
    config = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**config, "name": name}))
    return path


def test_name_dotdot_with_restart_deletes_nothing(run_in, capsys):
    (run_in / "outputs" / "sibling").mkdir(parents=True)
    (run_in / "outputs" / "sibling" / "keep.txt").write_text("mine")
    (run_in / "precious.txt").write_text("mine")
    for name in ("..", "."):
        fails(capsys, "run", _named(run_in, name), "--restart", match="must name a folder inside output_dir")
    assert (run_in / "outputs" / "sibling" / "keep.txt").read_text() == "mine"
    assert (run_in / "precious.txt").read_text() == "mine"


def test_restart_does_not_delete_a_folder_that_is_not_this_run(run_in, capsys):
    folder = run_in / "outputs" / "bad"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"name": "other", "fingerprint": "0" * 16}))
    (folder / "thesis.txt").write_text("years of work")
    fails(capsys, "run", pipeline(run_in), "--restart", match="holds the run 'other'")
    (folder / "run.json").write_text('{"something": "else"}')
    fails(capsys, "run", pipeline(run_in), "--restart", match="is not a datagen run file")
    assert (folder / "thesis.txt").read_text() == "years of work"


def test_count_true_is_not_one(run_in, capsys):
    path = pipeline(run_in)
    path.write_text(path.read_text().replace("count: 6", "count: true"))
    fails(capsys, "validate", path, match="generators.0.count: Input should be a valid integer")


def test_two_generators_with_one_name(run_in, capsys):
    path = run_in / "p.yaml"
    path.write_text("name: x\ngenerators:\n  - {type: answer, instructions: [a b c]}\n"
                    "  - {type: answer, instructions: [d e f]}\n")
    fails(capsys, "validate", path, match="generators 0 and 1 are both named 'answer'")


# -- files a pipeline names ----------------------------------------------------------------------

def test_broken_line_in_a_data_file_names_file_and_line(run_in, capsys):
    (run_in / "data.jsonl").write_text(json.dumps(rows(1)[0]) + "\n{\"instruction\": oops\n")
    fails(capsys, "run", pipeline(run_in), "--quiet", match="data.jsonl: line 2: not valid JSON")


def test_non_utf8_data_file(run_in, capsys):
    (run_in / "data.jsonl").write_bytes(b'{"instruction": "caf\xe9 au lait", "output": "yes"}\n')
    fails(capsys, "run", pipeline(run_in), "--quiet",
          match="generators.import.sources.0.path: " + str(run_in / "data.jsonl") + ": not UTF-8 text (byte 20)")


def test_non_utf8_seed_file_of_the_answer_generator(run_in, capsys):
    (run_in / "seeds.txt").write_bytes(b"Explain \xff rain\n")
    (run_in / "p.yaml").write_text("name: x\ngenerators:\n  - {type: answer, file: seeds.txt}\n")
    fails(capsys, "run", run_in / "p.yaml", match="generators.answer.file: " + str(run_in / "seeds.txt")
          + ": not UTF-8 text")


def test_empty_data_file(run_in, capsys):
    (run_in / "data.jsonl").write_text("")
    fails(capsys, "run", pipeline(run_in), match="data.jsonl: the file is empty")


def test_folder_given_as_a_seed_file(run_in, capsys):
    (run_in / "seeds").mkdir()
    fails(capsys, "run", pipeline(run_in, data="seeds"), match="sources.0.path: seeds is a folder, not a file")


def test_missing_files_are_all_reported_by_validate(run_in, capsys):
    path = run_in / "p.yaml"
    path.write_text("name: x\ngenerators:\n  - {type: answer, file: nowhere.txt}\n"
                    "  - {type: self_instruct, seed_file: gone.jsonl}\n"
                    "filters:\n  - {type: decontam, benchmarks: [lost.jsonl]}\n"
                    "evaluate: {ifeval_prompts: missing.jsonl}\n")
    err = fails(capsys, "validate", path, match="generators.answer.file: file not found: nowhere.txt")
    for key in ("generators.self_instruct.seed_file: file not found: gone.jsonl",
                "filters.decontam.benchmarks.0: file not found: lost.jsonl",
                "evaluate.ifeval_prompts: file not found: missing.jsonl"):
        assert key in err


def test_relative_path_does_not_climb_out_of_the_project_folder(tmp_path, monkeypatch, capsys):
    # ../ as many times as the project folder is deep, then a file every Linux has
    climb = "../" * (len(PROJECT_ROOT.parts) - 1) + "etc/hostname"
    assert (PROJECT_ROOT / climb).resolve() == Path("/etc/hostname")
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert not (deep / climb).exists()
    path = pipeline(deep, data=climb)
    fails(capsys, "validate", path, match=f"file not found: {climb}")


def test_huge_line_is_read_whole(run_in, capsys):
    big = {"instruction": "Summarize this: " + "word " * 400_000, "output": "It repeats one word."}
    write_jsonl(run_in / "data.jsonl", [big, *rows(3)])
    assert main(["run", str(pipeline(run_in, count=4)), "--quiet"]) == 0
    folder = RunFolder(run_in / "outputs" / "bad")
    assert len(texts(folder)) == 4
    assert max(len(r.instruction) for r in folder.records()) > 2_000_000


# -- the output folder ------------------------------------------------------------------------------

def test_output_dir_is_a_file(run_in, capsys):
    (run_in / "afile").write_text("x")
    fails(capsys, "run", pipeline(run_in), "--output-dir", run_in / "afile", match="is a file, not a folder")


def test_output_dir_cannot_be_written(run_in, capsys):
    fails(capsys, "run", pipeline(run_in), "--output-dir", "/proc/datagen-test", match="cannot write the run folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_output_dir_without_permission(run_in, capsys):
    locked = run_in / "locked"
    locked.mkdir(mode=0o555)
    fails(capsys, "run", pipeline(run_in), "--output-dir", locked, match="Permission denied")


def test_truncated_shard_marker_names_the_file(run_in, capsys):
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    marker = run_in / "outputs/bad/shards/00-import-000001.json"
    marker.write_text(marker.read_text()[:20])
    fails(capsys, "run", pipeline(run_in), "--quiet", match=f"{marker}: damaged JSON file")


def test_truncated_run_json_names_the_file(run_in, capsys):
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    (run_in / "outputs/bad/run.json").write_text('{"name": "ba')
    fails(capsys, "run", pipeline(run_in), "--quiet", match="run.json: damaged JSON file")
    fails(capsys, "inspect", run_in / "outputs/bad", match="run.json: damaged JSON file")


def test_truncated_records_file_is_made_again(run_in, capsys):
    path = pipeline(run_in, count=8)
    assert main(["run", str(path), "--quiet"]) == 0
    straight = texts(RunFolder(run_in / "outputs/bad"))
    shard = run_in / "outputs/bad/records/00-import-000001.jsonl"
    shard.write_text(shard.read_text().splitlines(keepends=True)[0])  # one line of two left
    assert main(["run", str(path), "--quiet"]) == 0
    assert texts(RunFolder(run_in / "outputs/bad")) == straight
    stats = json.loads((run_in / "outputs/bad/stats.json").read_text())
    assert stats["generated"] == 8 and stats["kept"] == len(list(RunFolder(run_in / "outputs/bad").records()))


def test_deleted_shard_marker_in_the_middle_loses_nothing(run_in, capsys):
    path = pipeline(run_in, count=12)
    assert main(["run", str(path), "--quiet"]) == 0
    straight = texts(RunFolder(run_in / "outputs/bad"))
    assert len(straight) == 12
    (run_in / "outputs/bad/shards/00-import-000002.json").unlink()
    assert main(["run", str(path), "--quiet"]) == 0
    folder = RunFolder(run_in / "outputs/bad")
    assert texts(folder) == straight and len(folder.finished()) == 6
    assert sum(1 for r in folder.rejects()) == 0  # nothing rejected as a duplicate of itself


def test_edited_input_file_refuses_to_resume(run_in, capsys):
    path = pipeline(run_in)
    assert main(["run", str(path), "--quiet"]) == 0
    write_jsonl(run_in / "data.jsonl", rows(12, start=100))
    fails(capsys, "run", path, "--quiet", match="the contents of their input files changed")


# -- export and publish -----------------------------------------------------------------------------

def test_export_onto_a_file_of_the_run(run_in, capsys):
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    target = run_in / "outputs/bad/records/00-import-000000.jsonl"
    before = target.read_text()
    fails(capsys, "export", run_in / "outputs/bad", "--format", "messages", "--out", target,
          match="is a file of the run")
    assert target.read_text() == before
    fails(capsys, "export", run_in / "outputs/bad", "--format", "messages", "--out",
          run_in / "outputs/bad/run.json", match="is a file of the run")


def test_publish_into_a_user_folder_asks_first(run_in, capsys):
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    user = run_in / "mine"
    (user / "data").mkdir(parents=True)
    (user / "data" / "results.csv").write_text("precious")
    (user / "README.md").write_text("my notes")
    fails(capsys, "publish", run_in / "outputs/bad", "--out", user, match="did not write")
    assert (user / "data" / "results.csv").read_text() == "precious"
    assert (user / "README.md").read_text() == "my notes"
    (run_in / "afile").write_text("x")
    fails(capsys, "publish", run_in / "outputs/bad", "--out", run_in / "afile", match="is a file, not a folder")
    # a folder publish wrote itself may be written again; --force takes a user folder
    assert main(["publish", str(run_in / "outputs/bad"), "--out", str(run_in / "fresh")]) == 0
    assert main(["publish", str(run_in / "outputs/bad"), "--out", str(run_in / "fresh")]) == 0
    assert main(["publish", str(run_in / "outputs/bad"), "--out", str(user), "--force"]) == 0
    assert not (user / "data" / "results.csv").exists() and "datagen" in (user / "README.md").read_text()


def test_publish_without_network(run_in, capsys, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_notarealtoken")
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    fails(capsys, "publish", run_in / "outputs/bad", "--repo-id", "me/data", "--out", run_in / "hub",
          match="upload to me/data failed")
    # the folder is complete (card and data), ready for a later upload
    assert (run_in / "hub" / "README.md").is_file() and list((run_in / "hub" / "data").glob("*.parquet"))
    assert not list(run_in.glob(".hub*"))


def test_failed_publish_leaves_the_old_folder_whole(run_in, capsys):
    assert main(["run", str(pipeline(run_in)), "--quiet"]) == 0
    assert main(["publish", str(run_in / "outputs/bad"), "--out", str(run_in / "hub")]) == 0
    before = sorted(str(p.relative_to(run_in)) for p in (run_in / "hub").rglob("*"))
    card = (run_in / "hub" / "README.md").read_text()
    (run_in / "afile").write_text("x")  # exports, written after the data, fail: no folder to put them in
    fails(capsys, "publish", run_in / "outputs/bad", "--out", run_in / "hub", "--test-size", "2",
          "--export", "messages", "--export-dir", run_in / "afile" / "exports", match="Not a directory")
    assert sorted(str(p.relative_to(run_in)) for p in (run_in / "hub").rglob("*")) == before
    assert (run_in / "hub" / "README.md").read_text() == card and not list(run_in.glob(".hub*"))


# -- model files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_gguf_path_that_is_a_text_file(run_in, capsys, workers):
    (run_in / "model.gguf").write_text("this is not a model\n")
    (run_in / "p.yaml").write_text(f"name: x\nbackend: {{type: llamacpp, model: {run_in / 'model.gguf'}, "
                                   f"workers: {workers}, threads: 1}}\n"
                                   "generators:\n  - {type: answer, instructions: [Say hello], count: 1}\n")
    err = fails(capsys, "run", run_in / "p.yaml", "--quiet", match="Failed to load model from file")
    assert "model.gguf" in err and "BrokenProcessPool" not in err


def test_missing_gguf_with_auto_workers(run_in, capsys):
    (run_in / "p.yaml").write_text(f"name: x\nbackend: {{type: llamacpp, model: {run_in / 'absent.gguf'}, "
                                   "workers: auto}\ngenerators:\n  - {type: answer, instructions: [Say hi], count: 1}\n")
    fails(capsys, "run", run_in / "p.yaml", "--quiet", match="GGUF model file not found")


# -- SIGKILL ----------------------------------------------------------------------------------------

def _kill_when(tmp, ready, name="killed"):
    """Start a run of 200 one-record shards, SIGKILL it once `ready(run folder)` holds, rerun it to the end and
    compare with a straight run of the same config."""
    write_jsonl(tmp / "data.jsonl", rows(200))
    path = pipeline(tmp, name=name, count=200, batch_size=1)
    cmd = [sys.executable, "-m", "datagen.cli", "run", str(path), "--quiet"]
    run_dir = tmp / "outputs" / name
    proc = subprocess.Popen(cmd, cwd=tmp, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not ready(run_dir):
        time.sleep(0.002)
    assert proc.poll() is None, "the run ended before the moment to kill it"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, cwd=tmp, env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    straight = subprocess.run(cmd + ["--output-dir", str(tmp / "straight")], cwd=tmp, env=ENV,
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr
    got, want = texts(RunFolder(run_dir)), texts(RunFolder(tmp / "straight" / name))
    assert len(want) == 200 and got == want
    assert len({g[1] for g in got}) == 200  # each instruction exactly once
    assert json.loads((run_dir / "stats.json").read_text())["generated"] == 200


def _markers(run_dir):
    return len(list((run_dir / "shards").glob("*.json"))) if (run_dir / "shards").is_dir() else 0


def test_sigkill_before_the_first_shard(run_in):
    _kill_when(run_in, lambda d: (d / "run.json").is_file())


def test_sigkill_in_the_middle(run_in):
    _kill_when(run_in, lambda d: _markers(d) >= 80)


def test_sigkill_at_the_last_shard(run_in):
    _kill_when(run_in, lambda d: _markers(d) >= 199)  # the last shard, the stats or the parquet file being written


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkill_of_the_main_process_ends_the_model_workers(run_in):
    instructions = [f"Write a long story about the number {i}" for i in range(40)]
    (run_in / "p.yaml").write_text(yaml.safe_dump({
        "name": "x", "backend": {"type": "llamacpp", "model": "embedded", "workers": 2, "threads": 1},
        "generators": [{"type": "answer", "instructions": instructions, "count": 40, "batch_size": 8,
                        "max_tokens": 64}]}))
    proc = subprocess.Popen([sys.executable, "-m", "datagen.cli", "run", "p.yaml", "--quiet"], cwd=run_in, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and proc.poll() is None:
        workers = [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]
        if len(workers) >= 2:
            break
        time.sleep(0.1)
    assert len(workers) >= 2, "the model workers did not start"
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)  # the main process only, as an OOM killer would
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, "model workers outlived the main process"
