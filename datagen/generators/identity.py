"""Model-identity records ("Who are you?", "Who made you?" ...) from a built-in template set; no model involved.

The questions and answers live in prompts/identity.yaml, in the promptsource layout, rendered on one row
{model_name, creator, ...extra}. `templates` swaps in a file of your own in the same layout.
"""
from __future__ import annotations

import random
from typing import Sequence

from pydantic import Field

from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.prompt_files import prompt_file
from datagen.generators.helpers.promptsource import Template, load_templates, render
from datagen.records import Record, make_record

BUILTIN = prompt_file("identity.yaml")


class IdentityParams(GeneratorParams):
    model_name: str = Field(min_length=1, description="the name the assistant answers with")
    creator: str = Field(min_length=1, description="who built it")
    extra: dict[str, str] = Field(default_factory=dict, description="more values for templates of your own")
    templates: str | None = Field(None, description="promptsource-layout YAML replacing the built-in set")


class Identity(Generator):
    name = "identity"
    Params = IdentityParams

    def templates(self) -> list[Template]:
        if not hasattr(self, "_templates"):
            path = (self.ctx.resolve_path(self.params.templates, f"generators.{self.ctx.name}.templates")
                    if self.params.templates else BUILTIN)
            self._templates = load_templates(path).templates
        return self._templates

    def work_items(self) -> Sequence[tuple[int, int]]:
        """(template, pass): every phrasing once, in a seeded order, then again for counts beyond the set."""
        n = len(self.templates())
        order = list(range(n))
        random.Random(derive_seed(self.ctx.seed, self.ctx.name)).shuffle(order)
        return [(order[i % n], i // n) for i in range(self.ctx.count)]

    def run_batch(self, items: Sequence[tuple[int, int]], batch: int) -> list[Record]:
        row = {**self.params.extra, "model_name": self.params.model_name, "creator": self.params.creator}
        records = []
        for index, repeat in items:
            template = self.templates()[index]
            shown = render(template, row, "identity row 0")
            records.append(make_record(
                shown.prompt, shown.target, self.provenance(sources=[f"identity/{template.id}/0"], batch=batch),
                task_type="identity", category="identity",
                metadata={"template": template.name, "template_id": template.id, "pass": repeat}))
        return records
