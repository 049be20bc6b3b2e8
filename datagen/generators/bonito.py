"""Bonito-style text-to-task: turn unannotated passages into instruction/response records of 16 task types.

Work items are passage x task type pairs: passages shuffled once per seed, each with all its task types in a row.
Two prompt modes share one output contract, "task input <|pipe|> answer", and one rule: a reply is kept only when
it splits into exactly two parts.
- `bonito`: the Bonito model's own raw format (<|tasktype|> / <|context|> / <|task|>); the model writes the
  input with a {{context}} placeholder, which is replaced by the passage.
- `instruct`: any chat model is asked for the same task type through a short prompt with one demonstration;
  when its task input has no {{context}} placeholder, the passage is put before it so the record stays grounded.
`auto` picks `bonito` when the backend's model name contains "bonito".
Task types and the instruct prompt are data: prompts/bonito_tasks.yaml.
"""
from __future__ import annotations

import random
import re
from typing import Literal, Sequence

from pydantic import Field, field_validator, model_validator

from datagen.backends.base import SamplingParams
from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.passages import Passage, read_dataset, read_passages
from datagen.generators.helpers.prompt_files import load_prompt_data
from datagen.records import Record, make_record

PIPE = "<|pipe|>"
PLACEHOLDER = "{{context}}"
# labels a chat model likes to put in front of its parts ("Task: ...", "Answer: ...")
_LABEL = re.compile(r"^\s*(?:task|exercise|question|input|answer|output)\s*:\s*", re.IGNORECASE)


def task_types() -> dict[str, dict[str, str]]:
    return load_prompt_data("bonito_tasks")["task_types"]


def short_name(value: str) -> str:
    """A task type given as short name ('exqa') or full name ('extractive question answering') -> short name."""
    table = task_types()
    if value in table:
        return value
    for short, entry in table.items():
        if entry["name"] == value.strip().lower():
            return short
    raise ValueError(f"unknown task type {value!r}; known: all, {', '.join(table)}")


class ParseError(ValueError):
    """A model reply that does not fit the contract; the message is the discard reason."""


def split_reply(text: str) -> tuple[str, str]:
    """The two parts of 'input <|pipe|> output'; anything but exactly two non-empty parts is a ParseError."""
    parts = text.split(PIPE)
    if len(parts) == 1:
        raise ParseError("no pipe separator")
    if len(parts) > 2:
        raise ParseError("more than two parts")
    return _both_parts(*(p.strip() for p in parts))


def _both_parts(task: str, answer: str) -> tuple[str, str]:
    if not task:
        raise ParseError("empty task input")
    if not answer:
        raise ParseError("empty output")
    return task, answer


def parse_bonito(text: str, context: str) -> tuple[str, str]:
    """The Bonito model's reply -> (instruction with the passage filled in, response)."""
    task, answer = split_reply(text)
    return task.replace(PLACEHOLDER, context.strip()), answer


def parse_instruct(text: str, context: str) -> tuple[str, str, bool]:
    """A chat model's reply -> (instruction, response, whether the model placed the passage itself)."""
    task, answer = split_reply(text)
    task, answer = _both_parts(_LABEL.sub("", task, count=1).strip(), _LABEL.sub("", answer, count=1).strip())
    if PLACEHOLDER in task:
        return task.replace(PLACEHOLDER, context.strip()), answer, True
    if context.strip() in task:  # the model copied the passage in itself
        return task, answer, True
    return f"{context.strip()}\n\n{task}", answer, False


def bonito_prompt(task_type: str, context: str) -> str:
    layout = load_prompt_data("bonito_tasks")["bonito"]
    return layout.format(name=task_types()[task_type]["name"], context=context.strip())


def instruct_chat(task_type: str, context: str) -> list[dict[str, str]]:
    spec, table = load_prompt_data("bonito_tasks")["instruct"], task_types()
    demo = table[spec["demo_task_type"]]
    return [
        {"role": "system", "content": spec["system"]},
        {"role": "user", "content": spec["request"].format(passage=spec["demo_passage"], **demo)},
        {"role": "assistant", "content": spec["demo_reply"]},
        {"role": "user", "content": spec["request"].format(passage=context.strip(), **table[task_type])},
    ]


class BonitoParams(GeneratorParams):
    passages: str | None = Field(None, description="a folder of .txt/.md files or a .jsonl file")
    dataset: str | None = Field(None, description="datasets source: local csv/json/jsonl/parquet file, "
                                                  "a save_to_disk folder, or a Hub name")
    dataset_config: str | None = None
    split: str = "train"
    text_field: str = "text"
    id_field: str | None = Field(None, description="row id field; rows are numbered when unset")
    domain_field: str | None = Field("domain", description="becomes the record category when present")
    task_types: list[str] | Literal["all"] = "all"
    mode: Literal["auto", "bonito", "instruct"] = "auto"
    # the Bonito reference's sampling defaults
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 256
    drop_truncated: bool = Field(True, description="discard replies cut off at max_tokens")

    @field_validator("task_types")
    @classmethod
    def _known_types(cls, value: list[str] | str) -> list[str] | str:
        if value == "all":
            return value
        if not value:
            raise ValueError("give at least one task type, or `all`")
        return list(dict.fromkeys(short_name(v) for v in value))

    @model_validator(mode="after")
    def _one_source(self) -> "BonitoParams":
        if (self.passages is None) == (self.dataset is None):
            raise ValueError("give exactly one of `passages` (folder or .jsonl) and `dataset`")
        return self


WorkItem = tuple[int, str, int]  # (passage index, task type, round)


class Bonito(Generator):
    name = "bonito"
    Params = BonitoParams

    def types(self) -> list[str]:
        return list(task_types()) if self.params.task_types == "all" else list(self.params.task_types)

    def load_passages(self) -> list[Passage]:
        if not hasattr(self, "_passages"):
            p, key = self.params, f"generators.{self.ctx.name}"
            fields = dict(text_field=p.text_field, id_field=p.id_field, domain_field=p.domain_field)
            if p.passages is not None:
                self._passages = read_passages(self.ctx.resolve_path(p.passages, f"{key}.passages"), **fields)
            else:
                resolve = lambda value: self.ctx.resolve_path(value, f"{key}.dataset")  # noqa: E731
                self._passages = read_dataset(p.dataset, split=p.split, config_name=p.dataset_config,
                                              resolve=resolve, **fields)
        return self._passages

    def work_items(self) -> Sequence[WorkItem]:
        """`count` items from the passage x task type grid; further rounds when count exceeds it.

        Passages come in a shuffled order, each with all its task types (also shuffled) in a row: prompts of one
        passage then share their head up to the exercise type, so a worker reads the passage once, not once per
        type. A run shorter than the grid covers count / len(task_types) passages."""
        if not hasattr(self, "_items"):
            rng, types = random.Random(derive_seed(self.ctx.seed, self.ctx.name, "grid")), self.types()
            order = list(range(len(self.load_passages())))
            rng.shuffle(order)
            grid = [(i, t) for i in order for t in rng.sample(types, len(types))]
            self._items = [(*grid[k % len(grid)], k // len(grid)) for k in range(self.ctx.count)]
        return self._items

    def resolved_mode(self) -> str:
        if self.params.mode != "auto":
            return self.params.mode
        return "bonito" if "bonito" in self.ctx.backend.model.lower() else "instruct"

    def run_batch(self, items: Sequence[WorkItem], batch: int) -> list[Record]:
        p, passages, mode = self.params, self.load_passages(), self.resolved_mode()
        sampling = SamplingParams(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens,
                                  seed=self.ctx.batch_seed(batch))
        if mode == "bonito":
            prompts = [bonito_prompt(t, passages[i].text) for i, t, _ in items]
            replies = self.ctx.backend.complete(prompts, sampling.replace(stop=("<|tasktype|>",)))
        else:
            replies = self.ctx.backend.chat([instruct_chat(t, passages[i].text) for i, t, _ in items], sampling)
        records = []
        for (index, task_type, _), choices in zip(items, replies):
            passage, reply = passages[index], choices[0]
            if p.drop_truncated and reply.finish_reason == "length":
                self.discard("truncated at max_tokens")
                continue
            try:
                if mode == "bonito":
                    (instruction, response), placed = parse_bonito(reply.text, passage.text), PLACEHOLDER in reply.text
                else:
                    instruction, response, placed = parse_instruct(reply.text, passage.text)
            except ParseError as err:
                self.discard(str(err))
                continue
            records.append(make_record(
                instruction, response, self.provenance(sampling, [passage.id], batch, mode=mode),
                task_type=task_type, category=passage.domain,
                metadata={"passage_id": passage.id, "mode": mode, "task_name": task_types()[task_type]["name"],
                          "context_placeholder": placed, "finish_reason": reply.finish_reason}))
        return records
