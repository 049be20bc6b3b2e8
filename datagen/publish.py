"""Publish a run: a Hub-ready dataset repository folder (parquet splits + dataset card), then an upload.

    <folder>/
      README.md                            dataset card (YAML metadata + how it was made)
      data/train-00000-of-00001.parquet    kept records, split deterministically by seed
      data/test-00000-of-00001.parquet
      exports/<format>.jsonl               optional: alpaca / sharegpt / messages / prompt_completion

The split is by record id, so identical records never land on both sides. The folder is built next to its place
and moved in whole, so a failure leaves the old folder as it was; a folder that publish did not write is not
touched unless it is empty (or `force` is given).
"""
from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from datagen.card import CardParams, build_card
from datagen.export import export_records
from datagen.run_folder import RunFolder
from datagen.parquet import SCHEMA, record_row, with_fields, write_parquet
from datagen.records import Record
from datagen.stages import Stage

ExportFormat = Literal["alpaca", "sharegpt", "messages", "prompt_completion"]
EXPORT_SUFFIX = {"alpaca": ".json", "sharegpt": ".jsonl", "messages": ".jsonl", "prompt_completion": ".jsonl"}


class PublishParams(CardParams):
    private: bool = False
    dry_run: bool = Field(False, description="write the folder, do not upload")
    out: str | None = Field(None, description="folder to write (default: <run>/hub)")
    force: bool = Field(False, description="write into `out` even if it holds files publish did not write")
    test_size: float = Field(0.1, ge=0, description="fraction (<1) or count (>=1) of records in the test split")
    seed: int | None = Field(None, description="split seed (default: the pipeline seed, else 0)")
    shard_rows: int = Field(100_000, ge=1, description="rows per parquet file")
    exports: list[ExportFormat] = Field(default_factory=list)
    export_dir: str | None = Field(None, description="where exports go (default: <folder>/exports)")
    commit_message: str = "Upload dataset generated with datagen"


@dataclass
class Split:
    name: str
    ids: set[str]
    rows: int = 0
    files: list[str] = field(default_factory=list)


def hub_schema(score_names: list[str]) -> pa.Schema:
    """The run's parquet schema with `scores` as a struct of the score names found (the datasets library has no
    map type); without any score, no `scores` column."""
    fields = [f for f in SCHEMA if f.name != "scores"]
    if score_names:
        at = SCHEMA.get_field_index("scores")
        fields.insert(at, pa.field("scores", pa.struct([(n, pa.float64()) for n in score_names])))
    return pa.schema(fields)


def split_ids(ids: list[str], test_size: float, seed: int) -> set[str]:
    """The test ids: a seeded shuffle of the distinct ids, then the first `test_size` (fraction or count)."""
    distinct = sorted(set(ids))
    if test_size <= 0 or len(distinct) < 2:
        return set()
    k = int(test_size) if test_size >= 1 else max(1, round(len(distinct) * test_size))
    if k >= len(distinct):
        raise ValueError(f"test_size {test_size} leaves no training records ({len(distinct)} distinct records)")
    random.Random(seed).shuffle(distinct)
    return set(distinct[:k])


def _shards(records: Iterator[Record], rows: int, per_file: int) -> Iterator[tuple[int, int, Iterator[Record]]]:
    files = max(1, -(-rows // per_file))
    for i in range(files):
        yield i, files, islice(records, per_file)


CARD_MARK = "Generated with `datagen`"
OWN_ENTRIES = ("README.md", "data", "exports")  # what publish writes into a folder


def check_target(folder: Path, force: bool = False) -> None:
    """Refuse a folder that publish did not write: it must be absent, empty, or hold only a datagen card, data/
    and exports/ (hidden entries such as .git are left alone)."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder; choose another --out")
    if force or not folder.is_dir():
        return
    entries = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        return
    card = folder / "README.md"
    ours = card.is_file() and CARD_MARK in card.read_text(encoding="utf-8", errors="replace")
    if not ours or set(entries) - set(OWN_ENTRIES):
        raise ValueError(f"{folder} holds files that datagen publish did not write "
                         f"({', '.join(sorted(entries)[:5])}); choose an empty or new --out, or pass --force to "
                         f"replace its README.md, data/ and exports/")


def _move_into(staging: Path, folder: Path) -> None:
    """Replace the folder's README.md, data/ and exports/ by those in `staging` (other entries stay)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in OWN_ENTRIES:
        new, old = staging / name, folder / name
        if not new.exists():
            continue
        if old.is_dir():
            trash = staging / f".old-{name}"
            os.replace(old, trash)
        os.replace(new, old)
    shutil.rmtree(staging, ignore_errors=True)


def write_hub_folder(run_dir: str | Path, folder: str | Path, params: PublishParams) -> dict[str, Any]:
    """Write parquet splits, exports and the dataset card into `folder` (its old data/ is replaced)."""
    run = RunFolder(run_dir).require()
    folder = Path(folder)
    check_target(folder, params.force or folder == run.hub)
    staging = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        result = _write(run, staging, folder, params)
        _move_into(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _write(run: RunFolder, folder: Path, final: Path, params: PublishParams) -> dict[str, Any]:
    ids, score_names = [], {}
    for r in run.records():
        ids.append(r.id)
        score_names.update(dict.fromkeys(r.scores))
    if not ids:
        raise ValueError(f"{run.path}: the run kept no records; nothing to publish")
    test = split_ids(ids, params.test_size, params.seed if params.seed is not None else run_seed(run))
    splits = [Split("train", set(ids) - test), *([Split("test", test)] if test else [])]
    schema, row = with_fields(run.records(), hub_schema(list(score_names)), _hub_row)
    for split in splits:
        split.rows = sum(1 for i in ids if i in split.ids)
        stream = (r for r in run.records() if r.id in split.ids)
        for i, files, chunk in _shards(stream, split.rows, params.shard_rows):
            name = f"data/{split.name}-{i:05d}-of-{files:05d}.parquet"
            (folder / "data").mkdir(parents=True, exist_ok=True)
            write_parquet(chunk, folder / name, schema=schema, row=row)
            split.files.append(name)
    exports = {}
    if params.exports:
        for fmt in params.exports:
            name = f"{fmt}{EXPORT_SUFFIX[fmt]}"
            path = Path(params.export_dir) / name if params.export_dir else folder / "exports" / name
            shown = path if params.export_dir else final / "exports" / name
            try:
                exports[fmt] = {"path": str(shown), "rows": export_records(run.path, fmt, path)}
            except ValueError as err:
                raise ValueError(f"export {fmt}: {err}") from None
    card = build_card(run, params, {s.name: s.rows for s in splits}, list(score_names),
                      dataset_info=dataset_info(folder, splits, schema))
    card.save(folder / "README.md")
    return {"folder": str(final), "splits": {s.name: s.rows for s in splits},
            "files": [f for s in splits for f in s.files], "exports": exports}


def dataset_info(folder: Path, splits: list[Split], schema: pa.Schema) -> dict[str, Any]:
    """The card's `dataset_info` block, as push_to_hub writes it: features, rows and bytes per split. Besides
    informing the Hub viewer, it keys the datasets cache of a local folder, which otherwise goes by the folder's
    name and the card's file patterns alone and would serve stale rows after a re-publish."""
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo

    split_dict = SplitDict()
    for split in splits:
        nbytes = sum(pq.read_table(folder / f).nbytes for f in split.files)
        split_dict.add(SplitInfo(name=split.name, num_bytes=nbytes, num_examples=split.rows))
    info = DatasetInfo(features=Features.from_arrow_schema(schema), splits=split_dict,
                       download_size=sum((folder / f).stat().st_size for s in splits for f in s.files),
                       dataset_size=sum(s.num_bytes for s in split_dict.values()))
    return info._to_yaml_dict()


def _hub_row(record: Record) -> dict[str, Any]:
    return {**record_row(record), "scores": dict(record.scores)}


def upload_folder(folder: str | Path, repo_id: str, private: bool = False,
                  commit_message: str = "Upload dataset") -> str:
    """Create the dataset repo (if needed) and upload the folder. The token comes from HF_TOKEN or the saved
    login (`hf auth login`), found by huggingface_hub itself. Returns the commit URL."""
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise ValueError(f"no Hugging Face token to upload to {repo_id}: set HF_TOKEN or run `hf auth login` "
                         f"(or use --dry-run to only write the folder)")
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(folder),
                                 commit_message=commit_message)
    except OSError as err:  # no network, refused, HTTP errors (huggingface_hub's errors are requests' OSErrors)
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise ValueError(f"upload to {repo_id} failed: {reason}. The folder {folder} is complete; "
                         f"upload it later with the same command") from None
    return str(getattr(info, "commit_url", info))


def run_seed(run: RunFolder) -> int:
    return int(run.config().get("seed", 0))


def publish(run_dir: str | Path, params: PublishParams) -> dict[str, Any]:
    folder = Path(params.out) if params.out else RunFolder(run_dir).hub
    result = write_hub_folder(run_dir, folder, params)
    if params.repo_id and not params.dry_run:
        result["uploaded"] = upload_folder(folder, params.repo_id, params.private, params.commit_message)
        result["repo_id"] = params.repo_id
    return result


class PublishStage(Stage):
    name = "publish"
    Params = PublishParams

    def run(self) -> dict[str, Any]:
        return publish(self.ctx.run_dir, self.params)

