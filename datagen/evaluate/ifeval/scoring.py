"""Strict and loose following, and the official prompt- and instruction-level accuracies.
Strict checks the response as given; loose also tries it without its first line, its last line or both, each
with and without markdown asterisks. An empty (all-whitespace) response follows nothing."""
from __future__ import annotations

from typing import Any

from datagen.evaluate.ifeval.checkers import CHECKERS


def loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    trimmed = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", ""), *trimmed, *(t.replace("*", "") for t in trimmed)]


def follows(response: str, instruction_id: str, kwargs: dict[str, Any], loose: bool = False) -> bool:
    check = CHECKERS[instruction_id]
    return any(text.strip() and check(text, **kwargs) for text in (loose_variants(response) if loose else [response]))


def verdicts(prompt: dict[str, Any], response: str, loose: bool = False) -> list[bool]:
    return [follows(response, i, a, loose) for i, a in zip(prompt["instruction_id_list"], prompt["kwargs"])]


def score(prompts: list[dict[str, Any]], responses: list[str]) -> dict[str, Any]:
    """Prompt-level (every instruction followed) and instruction-level accuracy, strict and loose, with the
    counts and the strict accuracy per instruction id."""
    out: dict[str, Any] = {"prompts": len(prompts), "instructions": sum(len(p["instruction_id_list"]) for p in prompts)}
    per_type: dict[str, list[int]] = {}
    for mode in ("strict", "loose"):
        prompt_ok = instr_ok = 0
        for p, response in zip(prompts, responses):
            results = verdicts(p, response, loose=mode == "loose")
            prompt_ok += all(results)
            instr_ok += sum(results)
            if mode == "strict":
                for instruction_id, ok in zip(p["instruction_id_list"], results):
                    counts = per_type.setdefault(instruction_id, [0, 0])
                    counts[0] += ok
                    counts[1] += 1
        out[f"prompt_{mode}"] = round(prompt_ok / max(len(prompts), 1), 4)
        out[f"instruction_{mode}"] = round(instr_ok / max(out["instructions"], 1), 4)
        out[f"prompt_{mode}_count"], out[f"instruction_{mode}_count"] = prompt_ok, instr_ok
    out["per_type_strict"] = {k: f"{a}/{b}" for k, (a, b) in sorted(per_type.items())}
    return out
