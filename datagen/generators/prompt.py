"""Your own prompts: Jinja steps rendered over rows of a seed dataset and sampled variables.

Each record runs the steps in order (say question, then answer, then critique); a step's template sees the seed
row's columns, the sampled variables and every earlier step (`{{ question }}` is its text, `{{ question.x }}` its
parsed field x). A step may declare a JSON schema (or a pydantic model `module:Class`): decoding is constrained
where the engine can, the answer is validated, and its fields are kept. A step may declare checks. An answer that
is invalid (empty, not JSON, against the schema) gets a counted reason and is asked again with a new seed
(`max_retries`); one that fails a check is counted and dropped (a check is a verdict, not asked until it passes).
Nothing invalid is written. `user` and `assistant` are templates over the same names that make
the record's two turns (default: the last step's prompt and answer).
"""
from __future__ import annotations

import random
from typing import Any, Sequence

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ConfigDict, Field, field_validator

from datagen import sources
from datagen.backends.base import Completion, SamplingParams
from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.checks import Check
from datagen.generators.helpers.samplers import Sampler, draw_all
from datagen.records import Message, Record
from datagen.structured import InvalidOutput, OutputSchema

ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)


def _check_template(value: str | None) -> str | None:
    if value is not None:
        try:
            ENV.parse(value)
        except TemplateError as err:
            raise ValueError(f"not a valid Jinja template: {err}") from None
    return value


class Step(GeneratorParams):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="how later templates refer to this step")
    prompt: str = Field(description="Jinja template of the user message sent to the model")
    system: str | None = Field(None, description="Jinja template of a system message")
    output_schema: dict[str, Any] | str | None = Field(None, alias="schema",
                                                       description="JSON schema, or a pydantic model module:Class")
    checks: list[Check] = Field(default_factory=list)
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256

    _check_prompts = field_validator("prompt", "system")(_check_template)

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: Any) -> Any:
        if value is not None:
            OutputSchema(value)  # raises with the reason
        return value


class PromptParams(GeneratorParams):
    seed_data: str | None = Field(None, description="rows to render over: a JSONL/CSV/parquet file, a datasets "
                                                    "folder or a Hub dataset id; records cycle through the rows")
    split: str = "train"
    subset: str | None = Field(None, description="Hub dataset configuration")
    variables: dict[str, Sampler] = Field(default_factory=dict, description="sampled per record")
    steps: list[Step] = Field(min_length=1)
    system_prompt: str | None = Field(None, description="Jinja template of the record's system turn")
    user: str | None = Field(None, description="Jinja template of the record's user turn (default: the last "
                                               "step's prompt)")
    assistant: str | None = Field(None, description="Jinja template of the record's assistant turn (default: the "
                                                    "last step's answer)")
    max_retries: int = Field(2, ge=0, description="new tries, each with a new seed, for an invalid answer")
    task_type: str | None = None

    _check_turns = field_validator("system_prompt", "user", "assistant")(_check_template)

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[Step]) -> list[Step]:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must differ: {names}")
        return steps


class StepOutput:
    """A finished step as templates see it: its text when printed, its parsed fields as attributes."""

    def __init__(self, prompt: str, text: str, fields: dict[str, Any]) -> None:
        self.prompt, self.text, self.fields = prompt, text, fields

    def __str__(self) -> str:
        return self.text

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)


class Prompt(Generator):
    name = "prompt"
    Params = PromptParams

    def __init__(self, params: PromptParams, ctx) -> None:
        super().__init__(params, ctx)
        self.schemas = {s.name: OutputSchema(s.output_schema, f"steps.{s.name}.schema") if s.output_schema else None
                        for s in params.steps}
        last = params.steps[-1].name
        self.user = ENV.from_string(params.user or f"{{{{ {last}.prompt }}}}")
        self.assistant = ENV.from_string(params.assistant or f"{{{{ {last} }}}}")
        self.system = ENV.from_string(params.system_prompt) if params.system_prompt else None

    def work_items(self) -> Sequence[tuple[int, str, dict[str, Any]]]:
        if not hasattr(self, "_items"):
            rows, label = [{}], "sampled"
            if self.params.seed_data:
                key = f"generators.{self.ctx.name}.seed_data"
                source = sources.local_or_hub(self.params.seed_data, lambda value: self.ctx.resolve_path(value, key))
                data = sources.dataset(source, self.params.split, self.params.subset, hub_fallback=True)
                rows, label = data.to_list(), self.params.seed_data.rstrip("/").rsplit("/", 1)[-1]
                if not rows:
                    raise ValueError(f"{key}: {self.params.seed_data} has no rows in split {self.params.split!r}")
            self._items = [(i, f"{label}:{i % len(rows)}", rows[i % len(rows)]) for i in range(self.ctx.count)]
        return self._items

    def _names(self, index: int, row: dict[str, Any]) -> dict[str, Any]:
        rng = random.Random(derive_seed(self.ctx.seed, self.ctx.name, "variables", index))
        return {**row, "row": row, **draw_all(self.params.variables, rng), "index": index}

    def _render(self, template, names: dict[str, Any], where: str) -> str:
        try:
            return (template if not isinstance(template, str) else ENV.from_string(template)).render(names).strip()
        except TemplateError as err:
            raise ValueError(f"generators.{self.ctx.name}.{where}: {err}") from None

    def run_batch(self, items: Sequence[tuple[int, str, dict[str, Any]]], batch: int) -> list[Record]:
        names = {i: self._names(index, row) for i, (index, _, row) in enumerate(items)}
        alive = list(names)
        finish: dict[int, str] = {}
        for step in self.params.steps:
            alive = self._run_step(step, names, alive, batch, finish)
        records = []
        for i in alive:
            index, source, _ = items[i]
            n = names[i]
            turns = [("user", self._render(self.user, n, "user")),
                     ("assistant", self._render(self.assistant, n, "assistant"))]
            if self.system:
                turns.insert(0, ("system", self._render(self.system, n, "system_prompt")))
            outputs = {s.name: n[s.name] for s in self.params.steps}
            records.append(Record(
                messages=[Message(role=role, content=text) for role, text in turns],
                provenance=self.provenance(self._sampling(self.params.steps[-1], batch, 0), [source], batch),
                task_type=self.params.task_type,
                metadata={"fields": {k: o.fields for k, o in outputs.items() if o.fields},
                          "steps": {k: o.text for k, o in outputs.items()},
                          "variables": {k: n[k] for k in self.params.variables},
                          "finish_reason": finish.get(i, "stop")}))
        return records

    def _sampling(self, step: Step, batch: int, attempt: int) -> SamplingParams:
        schema = self.schemas[step.name]
        return SamplingParams(temperature=step.temperature, top_p=step.top_p, max_tokens=step.max_tokens,
                              seed=derive_seed(self.ctx.seed, self.ctx.name, batch, step.name, attempt) % 2**31,
                              json_schema=schema.json_schema if schema else None)

    def _run_step(self, step: Step, names: dict[int, dict], alive: list[int], batch: int,
                  finish: dict[int, str]) -> list[int]:
        """Ask the model for `step` on every live record, retrying failures; returns the records that passed."""
        chats = {}
        for i in alive:
            prompt = self._render(step.prompt, names[i], f"steps.{step.name}.prompt")
            system = [{"role": "system", "content": self._render(step.system, names[i], f"steps.{step.name}.system")}
                      ] if step.system else []
            chats[i] = (prompt, system + [{"role": "user", "content": prompt}])
        pending, passed = list(alive), set()
        for attempt in range(self.params.max_retries + 1):
            if not pending:
                break
            answers = self.ctx.backend.chat([chats[i][1] for i in pending], self._sampling(step, batch, attempt))
            failed = []
            for i, choices in zip(pending, answers):
                reason = self._accept(step, names[i], chats[i][0], choices[0])
                if reason is None:
                    passed.add(i)
                    finish[i] = choices[0].finish_reason
                else:
                    self.discard(f"{step.name}: {reason}")
                    if not reason.startswith("check failed"):  # a judged answer is not asked again
                        failed.append(i)
            pending = failed
        if pending:
            self.discard(f"{step.name}: no valid answer in {self.params.max_retries + 1} tries", len(pending))
        return [i for i in alive if i in passed]

    def _accept(self, step: Step, names: dict[str, Any], prompt: str, answer: Completion) -> str | None:
        """Store the step's output in `names` and return None, or return why the answer fails."""
        text = answer.text.strip()
        if not text:
            return "empty answer"
        schema = self.schemas[step.name]
        try:
            fields = schema.parse(text) if schema else {}
        except InvalidOutput as err:
            return f"{err.reason} (cut off at max_tokens)" if answer.finish_reason == "length" else err.reason
        scope = {**names, **fields, "text": text}
        for check in step.checks:
            if not check.passes(scope):
                return f"check failed: {check.label}"
        names[step.name] = StepOutput(prompt, text, fields)
        return None
