"""Row formats of existing human-written instruction datasets, on top of datagen.formats.

datagen.formats reads Alpaca, ShareGPT, OpenAI messages and prompt/completion rows. This module adds the layouts of
Dolly (instruction / context / response / category), LIMA (conversations as a plain list of strings), Aya
(inputs / targets), {prompt, response} rows, Super-NaturalInstructions task files (Definition, Positive Examples,
Instances: one row per instance) and Self-Instruct seed tasks (instruction, instances, is_classification: one row per
instance).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from datagen import formats, sources
from datagen.records import Message, Provenance, Record

NATIVE = tuple(formats.FORMATS)
EXTRA = ("dolly", "lima", "aya", "prompt_response", "natural_instructions", "self_instruct")


def detect(row: dict) -> str:
    if {"instruction", "context", "response"} <= set(row):
        return "dolly"
    if isinstance(row.get("conversations"), list) and all(isinstance(t, str) for t in row["conversations"]):
        return "lima"
    if {"inputs", "targets"} <= set(row):
        return "aya"
    if "Definition" in row and "Instances" in row:
        return "natural_instructions"
    if {"prompt", "response"} <= set(row) and "completion" not in row:
        return "prompt_response"
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


def from_prompt_response(row: dict, provenance: Provenance, **fields: Any) -> Record:
    return formats.from_prompt_completion({"prompt": row["prompt"], "completion": row["response"]}, provenance,
                                          **fields)


def seed_task_rows(tasks: list[dict]) -> list[dict]:
    """Self-Instruct seed tasks, one row per instance, each keeping its task's instruction and classification flag."""
    return [{"instruction": task["instruction"], "input": inst.get("input", ""), "output": inst["output"],
             "is_classification": bool(task.get("is_classification")), "id": f"{task.get('id', n)}/{k}"}
            for n, task in enumerate(tasks) for k, inst in enumerate(task["instances"])]


def from_seed_instance(row: dict, provenance: Provenance, **fields: Any) -> Record:
    alpaca = {"instruction": row["instruction"], "input": row["input"], "output": row["output"]}
    return formats.from_alpaca(alpaca, provenance, metadata={"is_classification": row["is_classification"]}, **fields)


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


def file_rows(path: Path, positive_examples: int = 0, keep_broken: bool = False, split: str = "train",
              where: str = "source") -> tuple[list, str | None]:
    """Rows of a local file (read by datagen.sources; JSONL lines that are not JSON kept as BrokenLine with
    `keep_broken`), and the format when the file's shape decides it: a Super-NaturalInstructions task object, or a
    file of Self-Instruct seed tasks."""
    sources.check_file(path)
    if path.suffix.lower() == ".json":
        data = sources.read_json(path)
        if isinstance(data, dict) and "Instances" in data:
            return sni_rows(data, path, positive_examples), "natural_instructions"
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of rows or a Super-NaturalInstructions task object")
        return _seed_tasks_expanded(data, path)
    if path.suffix.lower() == ".jsonl":
        return _seed_tasks_expanded(sources.rows(path, keep_broken=keep_broken), path)
    return sources.local_dataset({"train": [path]}, split, where=where).to_list(), None


def _seed_tasks_expanded(rows: list, path: Path) -> tuple[list[dict], str | None]:
    """A file of Self-Instruct seed tasks becomes one row per instance; any other file is returned as it is."""
    tasks = [r for r in rows if isinstance(r, dict) and "instruction" in r and isinstance(r.get("instances"), list)]
    if not rows or len(tasks) != len(rows):
        return rows, None
    bad = [n for n, task in enumerate(tasks) for inst in task["instances"] if not isinstance(inst, dict)
           or "output" not in inst]
    if bad:
        raise ValueError(f"{path}: row {bad[0] + 1}: every Self-Instruct instance needs an `output`")
    return seed_task_rows(tasks), "self_instruct"


CONVERTERS = {"dolly": from_dolly, "lima": from_lima, "aya": from_aya, "prompt_response": from_prompt_response,
              "natural_instructions": from_instance, "self_instruct": from_seed_instance}


def to_record(row: dict, fmt: str, provenance: Provenance, **fields: Any) -> Record:
    if fmt in CONVERTERS:
        return CONVERTERS[fmt](row, provenance, **fields)
    return formats.parse(row, fmt, provenance, **fields)
