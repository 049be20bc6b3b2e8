"""Self-Instruct's text handling: seed tasks, prompt templates, parsers of model output, and the filters.

Kept apart from the generator so every rule here is a plain function that tests can call on real model output.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from datagen.generators.helpers.prompt_files import load_prompt
from datagen.sources import jsonl_rows

NO_INPUT = {"", "<noinput>", "<no input>", "(none)", "none", "n/a", "-", "(no input)", "no input"}

BLACKLIST = re.compile(
    r"\b(images?|graphs?|pictures?|files?|maps?|draws?|plots?|go to|videos?|audios?|music|flowcharts?|diagrams?)\b",
    re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 4, 150


def template(name: str) -> str:
    return load_prompt(f"self_instruct_{name}")


# -- seed tasks ------------------------------------------------------------------------------------

@dataclass
class SeedTask:
    id: str
    instruction: str
    instances: list[dict[str, str]] = field(default_factory=list)
    is_classification: bool = False
    name: str = ""
    task_type: str | None = None  # our seeds carry it; the reference's 175 tasks do not


def load_seed_tasks(path: Path) -> list[SeedTask]:
    """Read a seed file in the reference JSONL layout {id, name, instruction, instances, is_classification};
    other fields (our `task_type`) are tolerated."""
    tasks = []
    for n, row in jsonl_rows(path):
        where = f"{path}: line {n}"
        if not isinstance(row.get("instruction"), str) or not row["instruction"].strip():
            raise ValueError(f"{where}: a seed task needs a non-empty string 'instruction'")
        instances = row.get("instances") or []
        if not isinstance(instances, list) or any(not isinstance(i, dict) or "output" not in i for i in instances):
            raise ValueError(f"{where}: 'instances' must be a list of objects with 'input' and 'output'")
        tasks.append(SeedTask(
            id=str(row.get("id") or f"{path.name}:{n}"), instruction=row["instruction"].strip(),
            instances=[{"input": str(i.get("input") or ""), "output": str(i["output"])} for i in instances],
            is_classification=bool(row.get("is_classification", False)), name=str(row.get("name") or ""),
            task_type=row.get("task_type") or None))
    if not tasks:
        raise ValueError(f"{path}: no seed tasks")
    return tasks


# -- filters on candidate instructions --------------------------------------------------------------

def instruction_problem(text: str) -> str | None:
    """Why a generated instruction is rejected before the similarity check (None: it passes)."""
    words = len(text.split())
    if words < MIN_WORDS:
        return "too few words"
    if words > MAX_WORDS:
        return "too many words"
    if BLACKLIST.search(text):
        return "blacklisted word"
    if text.lower().startswith("write a program"):
        return "starts with 'write a program'"
    if text[0] in string.punctuation:
        return "starts with punctuation"
    if not text[0].isascii():
        return "starts with non-ascii"
    return None


# -- bootstrap: numbered list -------------------------------------------------------------------

_NUMBERED = re.compile(r"(?:^|\n)\s*\d+\s?\.(?:\s|$)")


def bootstrap_prompt(instructions: list[str]) -> str:
    tasks = "\n".join(f"{i}. {text}" for i, text in enumerate(instructions, 1))
    return template("bootstrap").format(tasks=tasks, next=len(instructions) + 1)


def parse_numbered(text: str, truncated: bool) -> tuple[list[str], int]:
    """Split a continuation of the numbered list (which begins right after 'N.') into instructions.
    Returns the items and how many were dropped as cut off (the last one when generation hit max_tokens)."""
    parts = _NUMBERED.split(text)
    items = [" ".join(p.split()) for p in parts]
    items = [p for p in items if p]
    if truncated and items:
        return items[:-1], 1
    return items, 0


# -- classification identification --------------------------------------------------------------

def classify_prompt(instruction: str) -> str:
    return template("classify").format(instruction=instruction).rstrip()  # the answer follows on the line


def parse_yes_no(text: str) -> bool | None:
    word = text.strip().split()[0].strip(string.punctuation).lower() if text.strip() else ""
    return {"yes": True, "no": False}.get(word)


# -- instances ----------------------------------------------------------------------------------

def instance_prompt(instruction: str, demos: list[SeedTask], classification: bool, most: int = 5) -> str:
    """The few-shot prompt for `instruction`'s instances: each demo task with up to `most` of its instances (the
    model writes about as many as it is shown)."""
    blocks = []
    for task in demos:
        shown = [(inst["input"].strip() or "(none)", inst["output"].strip()) for inst in task.instances[:most]]
        if classification:
            blocks.append(f"Task: {task.instruction}\n" + "".join(f"Class label: {out}\nInput: {inp}\n"
                                                                for inp, out in shown) + "\n")
        else:
            blocks.append(f"Task: {task.instruction}\n" + "".join(f"Example {k}\nInput: {inp}\nOutput: {out}\n"
                                                                for k, (inp, out) in enumerate(shown, 1)) + "\n")
    name = "output_first" if classification else "input_first"
    return template(f"instances_{name}").format(demos="".join(blocks), instruction=instruction)


def _field(block: str, label: str, until: str | None) -> str | None:
    pattern = rf"{label}:\s*(.*?)" + (rf"\s*(?:\n\s*{until}:|$)" if until else r"\s*$")
    match = re.search(pattern, block, re.DOTALL)
    return match.group(1).strip() if match else None


def clean_input(value: str) -> str:
    return "" if value.strip().lower() in NO_INPUT else value.strip()


_OUTPUT, _INPUT = re.compile(r"Output\s*\d*\s*:"), re.compile(r"Input\s*\d*\s*:")


def _generation_instance(block: str) -> dict[str, str] | None:
    """One 'Input: ... Output: ...' block read as the reference reads it: the input is what comes before the first
    'Output:'; the output ends at the next 'Output:' and is cut at an 'Input:' inside it (the model went on to
    write more pairs). None when the block has no 'Output:'."""
    parts = _OUTPUT.split(block)
    if len(parts) < 2:
        return None
    inp = re.sub(r"^\s*Input\s*\d*\s*:", "", parts[0])
    return {"input": clean_input(inp), "output": _INPUT.split(parts[1])[0].strip()}


def parse_instances(text: str, classification: bool, max_instances: int = 5,
                    truncated: bool = False) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Instances from an instance-generation continuation (the prompt ends with 'Input:' or 'Class label:'), and
    the count of each reason a block was not used: a missing field, cut off by max_tokens (the last block, as
    the reference drops it), or beyond max_instances."""
    text = text.split("\nTask:")[0]
    if classification:
        blocks = [b for b in re.split(r"\n\s*(?=Class label:)", "Class label:" + text) if b.strip()]
    else:
        blocks = [b for b in re.split(r"\n\s*Example \d+\s*\n", "Input:" + text) if b.strip()]
    dropped: dict[str, int] = {}

    def drop(reason: str, n: int = 1) -> None:
        if n:
            dropped[reason] = dropped.get(reason, 0) + n

    if truncated and blocks:
        blocks = blocks[:-1]
        drop("instance cut off by max_tokens")
    instances = []
    for block in blocks:
        if classification:
            label, inp = _field(block, "Class label", "Input"), _field(block, "Input", None)
            instance = {"input": clean_input(inp), "output": label} if label is not None and inp is not None else None
        else:
            instance = _generation_instance(block)
        if instance is None:
            drop("instance block without " + ("a class label or input" if classification else "an output"))
        else:
            instances.append(instance)
    drop("beyond max_instances", max(len(instances) - max_instances, 0))
    return instances[:max_instances], dropped


def clean_instances(instances: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, int]]:
    """The reference's instance rules: drop input == output, empty outputs, outputs ending with ':';
    conflicting outputs for one input drop the whole task; exact duplicates are merged.
    Returns the kept instances and the count of each reason for what was thrown away."""
    dropped: dict[str, int] = {}

    def drop(reason: str, n: int = 1) -> None:
        dropped[reason] = dropped.get(reason, 0) + n

    kept, seen = [], set()
    for inst in instances:
        inp, out = inst["input"].strip(), inst["output"].strip()
        if not out:
            drop("empty output")
        elif inp == out:
            drop("input equals output")
        elif out.endswith(":"):
            drop("output ends with ':'")
        elif (inp, out) in seen:
            drop("duplicate instance")
        else:
            seen.add((inp, out))
            kept.append({"input": inp, "output": out})
    outputs: dict[str, set[str]] = {}
    for inst in kept:
        outputs.setdefault(inst["input"], set()).add(inst["output"])
    if any(len(v) > 1 for k, v in outputs.items() if k):
        drop("conflicting outputs for one input", len(kept))
        return [], dropped
    return kept, dropped


# -- Alpaca single step -------------------------------------------------------------------------

def alpaca_prompt(demos: list[SeedTask], total: int) -> str:
    blocks = []
    for i, task in enumerate(demos, 1):
        inst = task.instances[0] if task.instances else {"input": "", "output": ""}
        blocks.append(f"###\n{i}. Instruction: {task.instruction}\n{i}. Input:\n{inst['input'].strip() or '<noinput>'}"
                      f"\n{i}. Output:\n{inst['output'].strip()}\n")
    return template("alpaca").format(total=total, tasks="".join(blocks), next=len(demos) + 1)


def parse_alpaca(text: str, first: int, truncated: bool) -> tuple[list[dict[str, str]], int, int]:
    """Tasks from a continuation that begins after 'N. Instruction:'. Returns tasks, the number of blocks
    that did not parse, and the number dropped as cut off."""
    blocks = [b for b in re.split(r"\n?###\n?", f"{first}. Instruction:" + text) if b.strip()]
    cut = 0
    if truncated and blocks:
        blocks, cut = blocks[:-1], 1
    tasks, bad = [], 0
    for block in blocks:
        match = re.match(r"\s*\d+\.\s*Instruction:(.*?)\n\s*\d+\.\s*Input:(.*?)\n\s*\d+\.\s*Output:(.*)$",
                         block, re.DOTALL)
        if not match:
            bad += 1
            continue
        out = re.split(r"\n\s*\d+\.\s*(?:Instruction|Input|Output):", match.group(3))[0]  # repeated fields
        instruction, inp = " ".join(match.group(1).split()), clean_input(match.group(2))
        out = out.strip()
        tasks.append({"instruction": instruction, "input": inp, "output": out})
    return tasks, bad, cut
