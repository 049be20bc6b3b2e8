"""Records in, tokenized examples out: reading a run folder or a dataset, the train / validation / held-out split,
and chat-template tokenization with labels on assistant turns only (-100 elsewhere)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterable

from datagen import sources
from datagen.records import Record


def load_records(source: str | Path, fmt: str | None = None) -> list[Record]:
    """A datagen run folder, or a data file / saved datasets folder (see datagen.sources) in one of our record
    formats."""
    from datagen.run_folder import RunFolder

    path = Path(source)
    folder = RunFolder(path)
    if folder.exists:
        return list(folder.records())
    if path.is_dir() and not sources.is_saved_dataset(path):
        raise FileNotFoundError(f"{path}: not a datagen output folder (no run.json), nor a saved datasets folder")
    return records_from_rows(sources.rows(path), fmt, str(path))


def records_from_rows(rows: Iterable[dict], fmt: str | None = None, where: str = "dataset") -> list[Record]:
    """Rows of any datasets dataset (or list of dicts) in a datagen format: records as written, or alpaca,
    sharegpt, messages, prompt_completion rows."""
    from datagen.formats import parse

    records = []
    for i, row in enumerate(rows):
        try:
            if "provenance" in row and "messages" in row and fmt is None:
                records.append(Record.model_validate(row))
            else:
                extra = {k: row[k] for k in ("task_type", "category") if row.get(k)}
                records.append(parse(dict(row), fmt, **extra))
        except ValueError as err:
            raise ValueError(f"{where}: row {i}: {err}") from None
    return records


def split_records(records: list[Record], validation_share: float, holdout_task_types: list[str], seed: int
                  ) -> tuple[list[Record], list[Record], list[Record]]:
    """(train, validation, held-out): held-out are the records of the held-out task types (never trained on);
    the rest is shuffled with `seed` and split."""
    held = [r for r in records if r.task_type in holdout_task_types]
    rest = [r for r in records if r.task_type not in holdout_task_types]
    random.Random(seed).shuffle(rest)
    n_val = int(round(len(rest) * validation_share)) if len(rest) > 1 else 0
    return rest[n_val:], rest[:n_val], held


def _render(tokenizer: Any, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def segments(tokenizer: Any, messages: list[dict]) -> list[tuple[str, bool]]:
    """The rendered conversation cut into (text, is_assistant) pieces. An assistant piece is what the template
    adds for that turn after the generation prompt: its content and its end-of-turn / eos token."""
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], True)
        full = _render(tokenizer, messages[:i + 1], False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ValueError("the chat template does not render conversations as growing prefixes; "
                             "set train.chat_template to one that does")
        pieces += [(prompt[len(done):], False), (full[len(prompt):], True)]
        done = full
    tail = _render(tokenizer, messages, False)[len(done):]
    if tail:
        pieces.append((tail, False))
    return [p for p in pieces if p[0]]


def tokenize_record(record: Record, tokenizer: Any, max_length: int | None = None, train_on_all: bool = False
                    ) -> dict[str, list[int]]:
    """input_ids and labels, cut at `max_length` if given; labels are -100 on every token not produced by an
    assistant turn (unless `train_on_all`). Pieces are tokenized apart so the mask follows the text exactly."""
    messages = [m.model_dump() for m in record.messages]
    input_ids: list[int] = []
    labels: list[int] = []
    for text, is_assistant in segments(tokenizer, messages):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids += ids
        labels += ids if (is_assistant or train_on_all) else [-100] * len(ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def build_dataset(records: list[Record], tokenizer: Any, max_length: int, train_on_all: bool = False,
                  too_long: str = "drop") -> tuple[Any, dict[str, int]]:
    """(dataset, counts). An example longer than max_length loses its end (and its end-of-turn token, so it
    would teach the model not to stop): `too_long` drops it or keeps it cut. Examples left with no assistant
    token teach nothing and are skipped. Both are counted, never silently lost."""
    from datasets import Dataset

    full = [tokenize_record(r, tokenizer, None, train_on_all) for r in records]
    cut = sum(len(r["input_ids"]) > max_length for r in full)
    if too_long == "drop":
        rows = [r for r in full if len(r["input_ids"]) <= max_length]
    else:
        rows = [{k: v[:max_length] for k, v in r.items()} for r in full]
    kept = [r for r in rows if any(label != -100 for label in r["labels"])]
    if records and not kept:
        raise ValueError(f"no training example has an assistant token within max_length {max_length} "
                         f"({cut} of {len(records)} are longer); raise train.max_length")
    counts = {"longer_than_max_length": cut, "dropped_too_long": cut if too_long == "drop" else 0,
              "truncated": cut if too_long == "truncate" else 0, "no_assistant_token": len(rows) - len(kept)}
    return Dataset.from_list(kept), counts
