"""Template conversion of labelled datasets (FLAN / promptsource style); no model involved.

Each dataset names its rows (see labelled.DataSource), one or more promptsource-layout template files, and its task
cluster. The `count` records are shared between datasets by examples-proportional mixing with a cap; every record
draws one of its dataset's templates and one of the FLAN formats (zero-/few-shot, with/without OPTIONS), seeded by
the run seed and the row, so a rerun gives the same records.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import Field, field_validator

from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.labelled import DataSource, first_rows, load_rows
from datagen.generators.helpers.mixing import (
    FLAN_CAP,
    FLAN_FEW_SHOT,
    FORMATS,
    few_shot_prompt,
    quotas,
    sample_rows,
    with_options,
)
from datagen.generators.helpers.promptsource import Template, TemplateError, load_templates, render
from datagen.records import Record, make_record


class DatasetSpec(DataSource):
    task_type: str = Field(description="task cluster (sentiment, nli, topic, extractive_qa, ...), for held-out eval")
    templates: str | list[str] = Field(description="promptsource-layout YAML file(s) for this dataset")

    def template_files(self) -> list[str]:
        return [self.templates] if isinstance(self.templates, str) else list(self.templates)


class TemplatesParams(GeneratorParams):
    datasets: list[DatasetSpec] = Field(min_length=1)
    formats: list[str] = Field(list(FORMATS), description="FLAN formats to draw from: zs_noopt, zs_opt, fs_noopt, "
                                                          "fs_opt")
    few_shot: int = Field(FLAN_FEW_SHOT, ge=1, description="exemplars in a few-shot prompt")
    cap: int | None = Field(FLAN_CAP, ge=1, description="per-task size cap in the mixing rates (None: no cap)")
    inverted: bool = Field(True, description="also use templates marked original_task: false")

    @field_validator("formats")
    @classmethod
    def _known(cls, formats: list[str]) -> list[str]:
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown or not formats:
            raise ValueError(f"unknown format(s) {unknown or '(none given)'}; choose from {', '.join(FORMATS)}")
        return formats


class Dataset:
    """One dataset's rows and templates, loaded once."""

    def __init__(self, spec: DatasetSpec, generator: "Templates", index: int) -> None:
        where = f"generators.{generator.ctx.name}.datasets.{index}"
        self.spec, self.name = spec, spec.label()
        self.rows = load_rows(spec, generator.ctx.resolve_path, where)
        self.origin = spec.hub or ",".join(spec.files())
        self.templates: list[Template] = []
        for value in spec.template_files():
            loaded = load_templates(generator.ctx.resolve_path(value, f"{where}.templates")).templates
            self.templates += [t for t in loaded if generator.params.inverted or not t.inverted]
        if not self.templates:
            raise TemplateError(f"{where}: no usable templates in {spec.template_files()}")
        if not self.rows:
            raise ValueError(f"{where}: {self.origin} split {spec.split!r} has no rows")

    def where(self, row: int) -> str:
        return f"{self.origin} row {row}"


class Templates(Generator):
    name = "templates"
    Params = TemplatesParams

    @classmethod
    def check_inputs(cls, params: TemplatesParams, resolve: Callable[[str, str], Path], where: str) -> None:
        """Every column a template reads must be in the data (its first rows, as adapted); run by validate."""
        for i, spec in enumerate(params.datasets):
            at = f"{where}.datasets.{i}"
            files = [resolve(f, f"{at}.templates") for f in spec.template_files()]
            templates = [t for f in files for t in load_templates(f).templates]
            for path, rows in first_rows(spec, resolve, at):
                for template in templates:
                    missing = sorted(template.columns() - set(rows[0] if rows else ()))
                    if rows and missing:
                        raise TemplateError(f"{at}: {template.label} reads column {missing[0]!r}, which {path} does "
                                            f"not have (columns: {sorted(rows[0])}; rename with `columns:`)")

    def datasets(self) -> list[Dataset]:
        if not hasattr(self, "_datasets"):
            self._datasets = [Dataset(spec, self, i) for i, spec in enumerate(self.params.datasets)]
            names = [d.name for d in self._datasets]
            if len(set(names)) != len(names):
                raise ValueError(f"generator {self.ctx.name}: two datasets share a name in {names}; set `name`")
        return self._datasets

    def work_items(self) -> Sequence[tuple[int, int, int]]:
        """(dataset, row, pass) triples, interleaved across datasets by a seeded shuffle."""
        if not hasattr(self, "_items"):
            data = self.datasets()
            share = quotas({d.name: len(d.rows) for d in data}, self.ctx.count, self.params.cap)
            items = [(i, row, n) for i, d in enumerate(data)
                     for row, n in sample_rows(len(d.rows), share[d.name], self.ctx.seed, self.ctx.name, d.name)]
            random.Random(derive_seed(self.ctx.seed, self.ctx.name, "order")).shuffle(items)
            self._items = items
        return self._items

    def run_batch(self, items: Sequence[tuple[int, int, int]], batch: int) -> list[Record]:
        return [self.convert(self.datasets()[d], row, n, batch) for d, row, n in items]

    def convert(self, data: Dataset, row: int, n: int, batch: int | None = None) -> Record:
        rng = random.Random(derive_seed(self.ctx.seed, self.ctx.name, data.name, row, n))
        template = rng.choice(data.templates)
        fmt = rng.choice(self.params.formats)
        shown = self._with_options(template, render(template, data.rows[row], data.where(row), rng), fmt)
        prompt, shots = shown[0], []
        if fmt.startswith("fs"):
            # k other rows: draw from the n - 1 indices that skip this row
            picks = rng.sample(range(len(data.rows) - 1), min(self.params.few_shot, len(data.rows) - 1))
            shots = [i + (i >= row) for i in picks]
            exemplars = [self._with_options(template, render(template, data.rows[i], data.where(i), rng), fmt)
                         for i in shots]
            prompt = few_shot_prompt(exemplars, prompt)
        return make_record(
            prompt, shown[1], self.provenance(sources=[f"{data.name}/{template.id}/{row}"], batch=batch),
            task_type=data.spec.task_type, category=data.name,
            metadata={"template": template.name, "template_id": template.id, "format": fmt,
                      "inverted": template.inverted, "row": row, "exemplar_rows": shots})

    @staticmethod
    def _with_options(template: Template, rendered: Any, fmt: str) -> tuple[str, str]:
        """The OPTIONS block goes on when the format asks for it, the answer is one of the choices, and the prompt
        does not list them already."""
        add = fmt.endswith("_opt") and not template.inverted and not template.choices_in_prompt
        return (with_options(rendered.prompt, rendered.choices) if add else rendered.prompt), rendered.target
