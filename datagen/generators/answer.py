"""Answer a given list of instructions with the model (plain response generation).

Instructions come from a file (JSONL with an `instruction` or `prompt` field and an optional `task_type`, or text
with one per line) or inline.
"""
from __future__ import annotations

from typing import Sequence

from pydantic import Field

from datagen.backends.base import SamplingParams
from datagen.generators.base import Generator, GeneratorParams
from datagen.sources import jsonl_rows
from datagen.records import Message, Record


class AnswerParams(GeneratorParams):
    instructions: list[str] = Field(default_factory=list, description="inline instructions")
    file: str | None = Field(None, description="JSONL (field `instruction` or `prompt`) or .txt, one per line")
    system_prompt: str | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256


class Answer(Generator):
    name = "answer"
    Params = AnswerParams

    def work_items(self) -> Sequence[tuple[str, str]]:
        if not hasattr(self, "_items"):
            items = [(f"inline:{i}", text) for i, text in enumerate(self.params.instructions)]
            if self.params.file:
                items += self._read(self.params.file)
            if not items:
                raise ValueError(f"generator {self.ctx.name}: give `instructions` or `file`")
            # cycle through the instructions until `count` records are asked for
            self._items = [items[i % len(items)] for i in range(self.ctx.count)]
        return self._items

    def _read(self, value: str) -> list[tuple[str, str]]:
        key = f"generators.{self.ctx.name}.file"
        path = self.ctx.resolve_path(value, key)
        lines = path.read_text(encoding="utf-8").splitlines()
        if not any(line.strip() for line in lines):
            raise ValueError(f"{path} ({key}) is empty: it holds no instructions")
        if path.suffix != ".jsonl":
            return [(f"{path.name}:{n}", line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
        items = []
        self._task_types: dict[str, str | None] = getattr(self, "_task_types", {})
        for n, row in jsonl_rows(path):
            text = row.get("instruction", row.get("prompt"))
            if not isinstance(text, str):
                raise ValueError(f"{path}: line {n}: expected a JSON object with a string 'instruction' (or 'prompt') "
                                 "field")
            items.append((f"{path.name}:{n}", text))
            self._task_types[f"{path.name}:{n}"] = row.get("task_type")
        return items

    def run_batch(self, items: Sequence[tuple[str, str]], batch: int) -> list[Record]:
        p = self.params
        sampling = SamplingParams(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens,
                                  seed=self.ctx.batch_seed(batch))
        head = [{"role": "system", "content": p.system_prompt}] if p.system_prompt else []
        chats = [head + [{"role": "user", "content": text}] for _, text in items]
        records = []
        for (source, text), choices in zip(items, self.ctx.backend.chat(chats, sampling)):
            answer = choices[0]
            if not answer.text.strip():
                self.discard("empty response")
                continue
            messages = [Message(**m) for m in head] + [Message(role="user", content=text),
                                                       Message(role="assistant", content=answer.text.strip())]
            records.append(Record(messages=messages, provenance=self.provenance(sampling, [source], batch),
                                  task_type=getattr(self, "_task_types", {}).get(source),
                                  metadata={"finish_reason": answer.finish_reason}))
        return records
