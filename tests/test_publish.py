import json
from pathlib import Path

import pytest
from run_fixture import make_run

from datagen.card import size_category
from datagen.cli import main
from datagen.config import ConfigError, validate_config
from datagen.formats import parse
from datagen.run_folder import RunFolder
from datagen.publish import PublishParams, publish, split_ids


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("pub") / "fixture")


@pytest.fixture(scope="module")
def hub(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "folder"
    result = publish(run.path, PublishParams(out=str(out), repo_id="someone/fixture", dry_run=True,
                                             license="apache-2.0", tags=["demo"], test_size=0.2, examples=4))
    return out, result


def test_folder_loads_with_datasets_as_the_hub_serves_it(run, hub):
    import datasets

    out, result = hub
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"train", "test"}
    assert ds["train"].num_rows == result["splits"]["train"] == 16
    assert ds["test"].num_rows == result["splits"]["test"] == 4
    originals = {r.id: r for r in run.records()}
    rows = [row for split in ds.values() for row in split]
    assert sorted(row["id"] for row in rows) == sorted(originals)  # every kept record, once
    assert not set(ds["train"]["id"]) & set(ds["test"]["id"])
    for row in rows:
        record = originals[row["id"]]
        assert row["messages"] == [m.model_dump() for m in record.messages]
        assert row["generator"] == record.provenance.generator
        assert row["model"] == "SmolLM2-135M-Instruct"
        assert {k: v for k, v in row["scores"].items() if v is not None} == record.scores
        assert json.loads(row["provenance"])["sources"] == record.provenance.sources
    multi = next(row for row in rows if len(row["messages"]) > 3)
    assert multi["messages"][0] == {"role": "system", "content": "Be brief."}
    # only data/ is read as data: exports and the card stay out of the splits
    assert sorted(result["files"]) == ["data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]


def test_card_parses_with_huggingface_hub(run, hub):
    from huggingface_hub import DatasetCard

    out, _ = hub
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"]
    assert {"synthetic", "answer", "demo"} <= set(data["tags"])
    assert data["pretty_name"] == "fixture"
    info = data["dataset_info"]
    assert info["splits"] == [{"name": "train", "num_bytes": info["splits"][0]["num_bytes"], "num_examples": 16},
                              {"name": "test", "num_bytes": info["splits"][1]["num_bytes"], "num_examples": 4}]
    assert {f["name"] for f in info["features"]} >= {"id", "messages", "scores", "provenance"}
    assert info["download_size"] == sum(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    assert data["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}]}]
    body = card.text
    assert "| filter `length` | 24 | 20 | 4 | response too short: 4 |" in body  # the funnel, from stats.json
    assert "`SmolLM2-135M-Instruct` (20)" in body
    assert 'answer: {"max_tokens": 64, "temperature": 0.7, "top_p": 1.0}' in body  # sampling, seed left out
    assert "min_response_words: 3" in body  # the pipeline config
    assert 'load_dataset("someone/fixture")' in body
    assert "empty response: 1" in body  # generator discards
    assert "## Known limitations" in body and "not reviewed by people" in body
    first = next(run.records())
    assert f"**{first.id}**" in body
    # a backtick run inside a record gets a longer fence, so the example cannot break out of its block
    assert "````text\nUse <script>" in body


def test_split_is_seeded_and_stable():
    ids = [f"id{i}" for i in range(40)]
    a = split_ids(ids, 0.5, seed=1)
    assert a == split_ids(list(reversed(ids)), 0.5, seed=1)  # order of the run does not matter
    assert a != split_ids(ids, 0.5, seed=2)
    assert len(split_ids(ids, 5, seed=1)) == 5 and len(split_ids(ids, 0.1, seed=1)) == 4
    assert split_ids(ids + ids, 0.1, seed=1) == split_ids(ids, 0.1, seed=1)  # duplicates share a side
    assert split_ids(ids, 0, seed=1) == set()
    with pytest.raises(ValueError, match="leaves no training records"):
        split_ids(ids, 40, seed=1)


def test_no_test_split_gives_a_train_only_card(run, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    result = publish(run.path, PublishParams(out=str(tmp_path), test_size=0))
    assert result["splits"] == {"train": 20}
    assert set(datasets.load_dataset(str(tmp_path))) == {"train"}
    assert DatasetCard.load(tmp_path / "README.md").data.configs[0]["data_files"] == [
        {"split": "train", "path": "data/train-*"}]


def test_republish_over_a_loaded_folder_loads_the_new_rows(run, tmp_path):
    import datasets

    cache = str(tmp_path / "cache")  # one datasets cache across both loads, as a user has
    publish(run.path, PublishParams(out=str(tmp_path / "hub"), test_size=2))
    assert datasets.load_dataset(str(tmp_path / "hub"), cache_dir=cache)["train"].num_rows == 18
    plain = make_run(tmp_path / "plain", n=8, per_shard=4, scored=False)
    publish(plain.path, PublishParams(out=str(tmp_path / "hub"), test_size=2))
    ds = datasets.load_dataset(str(tmp_path / "hub"), cache_dir=cache)
    assert {k: v.num_rows for k, v in ds.items()} == {"train": 5, "test": 2}
    assert "scores" not in ds["train"].column_names and "messages" in ds["train"].column_names
    assert "`scores`" not in (tmp_path / "hub" / "README.md").read_text()
    assert sorted(ds["test"]["id"]) == sorted(split_ids([r.id for r in plain.records()], 2, seed=3))


def test_shards_split_into_files(run, tmp_path):
    import datasets

    result = publish(run.path, PublishParams(out=str(tmp_path), shard_rows=7, test_size=3))
    assert [f for f in result["files"] if "train" in f] == [f"data/train-0000{i}-of-00003.parquet" for i in range(3)]
    assert datasets.load_dataset(str(tmp_path))["train"].num_rows == 17


def test_exports_round_trip(run, tmp_path):
    result = publish(run.path, PublishParams(out=str(tmp_path / "hub"), exports=["sharegpt", "messages",
                                                                                  "prompt_completion"],
                                             export_dir=str(tmp_path / "elsewhere")))
    originals = [r.messages for r in run.records()]
    for fmt in ("sharegpt", "messages", "prompt_completion"):
        path = Path(result["exports"][fmt]["path"])
        assert path.parent == tmp_path / "elsewhere"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert [parse(row, fmt).messages for row in rows] == originals
    with pytest.raises(ValueError, match="export alpaca: record .* 2 user turns"):
        publish(run.path, PublishParams(out=str(tmp_path / "hub2"), exports=["alpaca"]))


def test_upload_passes_repo_and_flags_to_huggingface_hub(run, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: calls.append(("create", a, k)))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda self, **k: calls.append(("upload", (), k)) or "https://hub/commit/1")
    result = publish(run.path, PublishParams(out=str(tmp_path), repo_id="me/data", private=True))
    assert calls == [
        ("create", ("me/data",), {"repo_type": "dataset", "private": True, "exist_ok": True}),
        ("upload", (), {"repo_id": "me/data", "repo_type": "dataset", "folder_path": str(tmp_path),
                        "commit_message": "Upload dataset generated with datagen"}),
    ]
    assert result["uploaded"] == "https://hub/commit/1"
    calls.clear()
    publish(run.path, PublishParams(out=str(tmp_path), repo_id="me/data", dry_run=True))
    assert calls == []  # a dry run only writes the folder
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ValueError, match="set HF_TOKEN"):
        publish(run.path, PublishParams(out=str(tmp_path), repo_id="me/data"))
    assert calls == []


def test_cli_publish_dry_run(run, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["publish", str(run.path), "--repo-id", "me/data", "--dry-run", "--out", str(out),
                 "--test-size", "5", "--export", "messages"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (train 15, test 5)" in printed and "dry run: not uploaded to me/data" in printed
    assert (out / "exports" / "messages.jsonl").is_file()
    assert main(["publish", str(run.path), "--repo-id", "not a repo", "--dry-run"]) == 2
    assert main(["publish", str(tmp_path / "missing")]) == 2
    assert "not a datagen output folder" in capsys.readouterr().err


def test_cli_takes_defaults_from_the_runs_publish_block(run, tmp_path, capsys):
    config = run.config()
    out = tmp_path / "from-config"
    config["publish"] = {"out": str(out), "test_size": 4, "license": "apache-2.0", "dry_run": True}
    run.write_config(config)
    assert main(["publish", str(run.path)]) == 0
    assert f"wrote {out} (train 16, test 4)" in capsys.readouterr().out
    assert "license: apache-2.0" in (out / "README.md").read_text()
    assert main(["publish", str(run.path), "--license", "mit", "--test-size", "0"]) == 0  # flags win
    assert "license: mit" in (out / "README.md").read_text() and "train 20)" in capsys.readouterr().out


def test_empty_run_is_refused(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_json("run.json", {"name": "empty"})
    with pytest.raises(ValueError, match="kept no records"):
        publish(tmp_path, PublishParams())


def test_publish_block_in_a_pipeline_is_validated():
    base = {"name": "x", "generators": [{"type": "answer", "instructions": ["hi"]}]}
    config = validate_config({**base, "publish": {"repo_id": "me/x", "dry_run": True, "exports": ["alpaca"]},
                              "report": {"samples": 5}})
    assert list(config.stages) == ["publish", "report"]
    with pytest.raises(ConfigError, match="publish.test_sise: unknown key"):
        validate_config({**base, "publish": {"test_sise": 0.2}})
    with pytest.raises(ConfigError, match="publish.exports.0"):
        validate_config({**base, "publish": {"exports": ["csv"]}})


def test_model_label_names_the_embedded_model():
    from datagen.card import model_label

    assert model_label("embedded") == "SmolLM2-135M-Instruct (SmolLM2-135M-Instruct.Q4_1.gguf, embedded)"
    assert model_label("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert model_label(None) == "unknown"


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
