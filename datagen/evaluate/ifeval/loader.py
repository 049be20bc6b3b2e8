"""Reads IFEval prompt files in the official layout, one JSON object a line:
{"key": 1000, "prompt": "...", "instruction_id_list": ["punctuation:no_comma", ...], "kwargs": [{}, ...]}.
Every instruction id, argument name and relation is checked here, so a bad file fails before any model runs."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from datagen.evaluate.ifeval.checkers import CHECKERS, RELATIONS
from datagen.sources import jsonl_rows

_RELATION_ARGS = ("relation", "let_relation", "capital_relation")


def _check_instruction(instruction_id: Any, kwargs: Any) -> str | None:
    """What is wrong with one instruction, or None."""
    if instruction_id not in CHECKERS:
        return f"unknown instruction id {instruction_id!r}"
    if not isinstance(kwargs, dict):
        return f"{instruction_id}: kwargs must be an object"
    wanted = list(inspect.signature(CHECKERS[instruction_id]).parameters)[1:]
    given = {k for k, v in kwargs.items() if v is not None}
    if given != set(wanted):
        return f"{instruction_id}: kwargs {sorted(given)} do not match the expected {sorted(wanted)}"
    bad = [kwargs[k] for k in _RELATION_ARGS if k in kwargs and kwargs[k] not in RELATIONS]
    if bad:
        return f"{instruction_id}: relation {bad[0]!r} is not one of {list(RELATIONS)}"
    if instruction_id == "keywords:letter_frequency" and len(str(kwargs["letter"]).strip()) != 1:
        return f"{instruction_id}: letter must be one character, got {kwargs['letter']!r}"
    return None


def load_prompts(path: str | Path) -> list[dict[str, Any]]:
    prompts = []
    for n, row in jsonl_rows(path):
        missing = [k for k in ("prompt", "instruction_id_list", "kwargs") if k not in row]
        if missing:
            raise ValueError(f"{path}: line {n}: missing {', '.join(missing)} (the official IFEval layout has "
                             "key, prompt, instruction_id_list, kwargs)")
        ids, kwargs = row["instruction_id_list"], row["kwargs"]
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise ValueError(f"{path}: line {n}: instruction_id_list and kwargs must be lists of the same length")
        for instruction_id, args in zip(ids, kwargs):
            problem = _check_instruction(instruction_id, args)
            if problem:
                raise ValueError(f"{path}: line {n}: {problem}")
        prompts.append({"key": row.get("key", n), "prompt": row["prompt"], "instruction_id_list": ids,
                        "kwargs": [{k: v for k, v in a.items() if v is not None} for a in kwargs]})
    return prompts
