"""Row formats of existing human-written instruction datasets, on top of datagen.formats.

datagen.formats reads Alpaca, ShareGPT, OpenAI messages and prompt/completion rows. This module adds the layouts of
Dolly (instruction / context / response / category), LIMA (conversations as a plain list of strings), Aya
(inputs / targets) and Super-NaturalInstructions task files (Definition, Positive Examples, Instances: one row per
instance).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from datagen import formats
from datagen.records import Message, Provenance, Record

NATIVE = tuple(formats.FORMATS)
EXTRA = ("dolly", "lima", "aya", "natural_instructions")


def detect(row: dict) -> str:
    if {"instruction", "context", "response"} <= set(row):
        return "dolly"
    if isinstance(row.get("conversations"), list) and all(isinstance(t, str) for t in row["conversations"]):
        return "lima"
    if {"inputs", "targets"} <= set(row):
        return "aya"
    if "Definition" in row and "Instances" in row:
        return "natural_instructions"
    return formats.detect_format(row)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def from_dolly(row: dict, provenance: Provenance, **fields: Any) -> Record:
    category = row.get("category") or None
    alpaca = {"instruction": row["instruction"], "input": row.get("context") or "", "output": row["response"]}
    return formats.from_alpaca(alpaca, provenance, category=category, task_type=fields.pop("task_type", None)
                               or (slug(category) if category else None), **fields)


def from_lima(row: dict, provenance: Provenance, **fields: Any) -> Record:
    roles = ("user", "assistant")
    messages = [Message(role=roles[i % 2], content=text) for i, text in enumerate(row["conversations"])]
    return Record(messages=messages, provenance=provenance, **fields)


def from_aya(row: dict, provenance: Provenance, **fields: Any) -> Record:
    record = formats.from_prompt_completion({"prompt": row["inputs"], "completion": row["targets"]}, provenance,
                                            **fields)
    if row.get("language"):
        record.tags.append(f"lang:{row['language']}")
    return record


def from_instance(row: dict, provenance: Provenance, **fields: Any) -> Record:
    """One Super-NaturalInstructions instance (see sni_rows): the definition, then optional solved examples, then
    the instance input; the first listed output is the answer."""
    instruction = row["definition"]
    if row["examples"]:
        shots = "\n\n".join(f"Example {i}:\nInput: {ex['input']}\nOutput: {ex['output']}"
                            for i, ex in enumerate(row["examples"], 1))
        instruction = f"{instruction}\n\n{shots}"
    outputs = row["output"] if isinstance(row["output"], list) else [row["output"]]
    if not outputs:
        raise ValueError("instance has no output")
    alpaca = {"instruction": instruction, "input": row["input"], "output": outputs[0]}
    category = row["category"]
    return formats.from_alpaca(alpaca, provenance, category=category,
                               task_type=fields.pop("task_type", None) or (slug(category) if category else None),
                               **fields)


def sni_rows(task: dict, path: Path, positive_examples: int) -> list[dict]:
    """The instances of one task file, each carrying the task's definition and its first positive examples."""
    missing = [key for key in ("Definition", "Instances") if key not in task]
    if missing:
        raise ValueError(f"{path}: not a Super-NaturalInstructions task file: no {missing}")
    definition = task["Definition"]
    definition = "\n".join(definition) if isinstance(definition, list) else str(definition)
    examples = task.get("Positive Examples", [])[:positive_examples]
    category = (task.get("Categories") or [None])[0]
    return [{"definition": definition, "examples": examples, "category": category, **inst}
            for inst in task["Instances"]]


class BrokenLine(str):
    """Stands in the rows for a .jsonl line that is not JSON (with keep_broken): the problem, as text."""


def read_file(path: Path, positive_examples: int = 0, keep_broken: bool = False) -> tuple[list, str | None]:
    """Rows of a local .json / .jsonl file, and the format when the file's shape decides it. A .jsonl line that is
    not JSON raises, or with `keep_broken` stays in the rows as a BrokenLine, for the caller to count."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    problem = f"{path}: line {n}: not valid JSON ({err})"
                    if not keep_broken:
                        raise ValueError(problem) from None
                    rows.append(BrokenLine(problem))
        return rows, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if isinstance(data, dict) and "Instances" in data:
        return sni_rows(data, path, positive_examples), "natural_instructions"
    if isinstance(data, list):
        return data, None
    raise ValueError(f"{path}: expected a JSON list of rows or a Super-NaturalInstructions task object")


CONVERTERS = {"dolly": from_dolly, "lima": from_lima, "aya": from_aya, "natural_instructions": from_instance}


def to_record(row: dict, fmt: str, provenance: Provenance, **fields: Any) -> Record:
    if fmt in CONVERTERS:
        return CONVERTERS[fmt](row, provenance, **fields)
    return formats.parse(row, fmt, provenance, **fields)
