"""datagen.sources: every file type people give, and the errors that name the file and line."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen import sources
from datagen.sources import SourceError

ROWS = [{"instruction": "Say red.", "output": "red", "label": 1}, {"instruction": "Say blue.", "output": "blue",
                                                                   "label": 2}]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    """The same two rows in every local file type."""
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "rows.parquet")
    return {
        "jsonl": write(tmp_path / "rows.jsonl", "".join(json.dumps(r) + "\n\n" for r in ROWS)),
        "json": write(tmp_path / "rows.json", json.dumps(ROWS)),
        "csv": write(tmp_path / "rows.csv", "instruction,output,label\nSay red.,red,1\nSay blue.,blue,2\n"),
        "tsv": write(tmp_path / "rows.tsv", "instruction\toutput\tlabel\nSay red.\tred\t1\nSay blue.\tblue\t2\n"),
        "parquet": tmp_path / "rows.parquet",
    }


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_every_local_file_type_gives_the_same_rows(files, kind):
    assert sources.rows(files[kind]) == ROWS
    assert sources.dataset(files[kind]).to_list() == ROWS
    assert sources.first_rows(files[kind], n=1) == [{k: str(v) if kind in ("csv", "tsv") else v
                                                     for k, v in ROWS[0].items()}]


def test_saved_datasets_folder_and_its_splits(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    assert sources.rows(tmp_path / "one") == ROWS
    both = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:1]),
                                 "test": datasets.Dataset.from_list(ROWS[1:])})
    both.save_to_disk(str(tmp_path / "two"))
    assert sources.dataset(tmp_path / "two", split="test").to_list() == ROWS[1:]
    with pytest.raises(SourceError, match=r"two: no split 'dev' \(splits: \['test', 'train'\]\)"):
        sources.dataset(tmp_path / "two", split="dev")


def test_tsv_is_read_unquoted_and_csv_without_header_takes_column_names(tmp_path):
    tsv = write(tmp_path / "glue.tsv", 'sentence\tlabel\n"Quoted, he said.\t0\n')
    assert sources.rows(tsv) == [{"sentence": '"Quoted, he said.', "label": 0}]
    assert sources.first_rows(tsv) == [{"sentence": '"Quoted, he said.', "label": "0"}]
    bare = write(tmp_path / "bare.csv", '"3","Wall St.","Short-sellers."\n')
    data = sources.local_dataset({"train": [bare]}, header=False, column_names=["label", "title", "text"])
    assert data.to_list() == [{"label": 3, "title": "Wall St.", "text": "Short-sellers."}]
    assert sources.first_rows(bare, header=False, column_names=["label", "title", "text"])[0]["label"] == "3"


def test_bad_json_line_names_file_and_line_or_is_kept_as_broken(tmp_path):
    path = write(tmp_path / "data.jsonl", '{"a": 1}\n\n{"a": oops\n[1, 2]\n')
    with pytest.raises(SourceError, match=r"data\.jsonl: line 3: not valid JSON"):
        sources.rows(path)
    with pytest.raises(SourceError, match=r"data\.jsonl: line 3: not valid JSON"):
        sources.dataset(path)  # checked before datasets reads it
    kept = sources.rows(path, keep_broken=True)
    assert kept[0] == {"a": 1} and isinstance(kept[1], sources.BrokenLine) and "line 3" in kept[1]
    assert kept[2] == [1, 2]  # a line of any JSON value is a row; the caller says what it needs
    with pytest.raises(SourceError, match=r"data\.jsonl: line 1: expected a JSON object, got list"):
        list(sources.jsonl_rows(write(path, "[1]\n")))


def test_json_file_must_hold_a_list_of_rows(tmp_path):
    with pytest.raises(SourceError, match=r"one\.json: expected a JSON list of rows, got dict"):
        sources.rows(write(tmp_path / "one.json", '{"a": 1}'))
    with pytest.raises(SourceError, match=r"cut\.json: not valid JSON"):
        sources.rows(write(tmp_path / "cut.json", '[{"a": 1}'))


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv"])
def test_non_utf8_file_names_file_and_byte(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(b'{"a": "caf\xe9"}\n' if "json" in suffix else b"a\ncaf\xe9\n")
    with pytest.raises(SourceError, match=rf"data\{suffix}: not UTF-8 text \(byte \d+"):
        sources.rows(path)
    with pytest.raises(SourceError, match=rf"data\{suffix}: not UTF-8 text"):
        sources.dataset(path)


@pytest.mark.parametrize("read", [sources.rows, sources.dataset])
def test_empty_file_folder_missing_file_and_unknown_type_are_named(tmp_path, read):
    with pytest.raises(SourceError, match=r"empty\.csv: the file is empty"):
        read(write(tmp_path / "empty.csv", ""))
    (tmp_path / "folder").mkdir()
    with pytest.raises(SourceError, match=r"folder is a folder, not a file"):
        read(tmp_path / "folder")
    with pytest.raises(SourceError, match=r"gone\.jsonl: file not found"):
        read(tmp_path / "gone.jsonl")
    with pytest.raises(SourceError, match=r"rows\.xlsx: unknown data file type '\.xlsx'; use one of \.jsonl"):
        read(write(tmp_path / "rows.xlsx", "x"))


def test_local_splits_must_exist_and_share_one_type(tmp_path, files):
    with pytest.raises(SourceError, match=r"gen\.x\.split: no split 'dev' among the local files"):
        sources.local_dataset({"train": [files["csv"]]}, split="dev", where="gen.x")
    for other in ("parquet", "tsv"):  # a TSV is no CSV: it is read with other options
        with pytest.raises(SourceError, match=r"gen\.x\.data_files: files must share one of the types"):
            sources.local_dataset({"train": [files["csv"], files[other]]}, where="gen.x")
    again = write(tmp_path / "more.csv", files["csv"].read_text())
    assert len(sources.local_dataset({"train": [files["csv"], again]}, split="train[:3]")) == 3


@pytest.fixture
def hub(monkeypatch):
    """datasets.load_dataset answering every Hub id with one row (there is no network here)."""
    import datasets

    calls, real = [], datasets.load_dataset

    def fake(name, subset=None, split=None, **kwargs):
        if name in sources.BUILDERS.values():  # a local file builder: the real one
            return real(name, subset, split=split, **kwargs)
        calls.append((name, subset, split))
        return datasets.Dataset.from_list([{"text": "from the hub"}])

    monkeypatch.setattr(datasets, "load_dataset", fake)
    return calls


def test_hub_id_goes_to_load_dataset(hub, tmp_path):
    assert sources.dataset("someone/corpus", split="test[:5]", subset="en", hub_fallback=True).to_list() == [
        {"text": "from the hub"}]
    assert sources.hub_dataset("ag_news", split="train").num_rows == 1
    assert hub == [("someone/corpus", "en", "test[:5]"), ("ag_news", None, "train")]
    write(tmp_path / "local.csv", "text\nfrom a file\n")
    assert sources.dataset(tmp_path / "local.csv", hub_fallback=True).to_list() == [{"text": "from a file"}]
    assert len(hub) == 2


def test_missing_local_file_is_an_error_not_a_hub_lookup(hub, tmp_path):
    for read in (sources.rows, sources.dataset):
        with pytest.raises(SourceError, match="nowhere.jsonl: file not found"):
            read(tmp_path / "nowhere.jsonl")
    # where a Hub id is allowed, a name with a data file suffix is still a local file
    with pytest.raises(SourceError, match="nowhere.parquet: file not found"):
        sources.dataset("data/nowhere.parquet", hub_fallback=True)
    assert hub == []


def test_local_or_hub_prefers_a_resolved_local_path(tmp_path):
    path = write(tmp_path / "seeds.jsonl", '{"a": 1}\n')

    def resolve(value):
        if (tmp_path / value).exists():
            return tmp_path / value
        raise ValueError(f"file not found: {value}")

    assert sources.local_or_hub("seeds.jsonl", resolve) == path
    assert sources.local_or_hub("someone/corpus", resolve) == "someone/corpus"


def test_decontam_reads_a_tsv_eval_set(tmp_path):
    from datagen.filters.base import FilterContext
    from datagen.filters.decontam import Decontam
    from datagen.records import Provenance, make_record

    bench = write(tmp_path / "eval.tsv", 'id\tquestion\nq7\t"Which planet of the solar system has the most moons '
                                         'today?\n')
    f = Decontam(Decontam.Params(benchmarks=[str(bench)], n=6), FilterContext("decontam"))
    prov = Provenance(generator="test")
    out = f.apply([make_record("Which planet of the solar system has the most moons?", "Saturn.", prov),
                   make_record("Which planet is the largest?", "Jupiter.", prov)])
    assert [r.kept for r in out] == [False, True]
    assert out[0].rejection().details["benchmark_item"] == "eval.tsv#q7"
