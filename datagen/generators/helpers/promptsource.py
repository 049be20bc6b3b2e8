"""promptsource-layout templates: load the YAML files and render a template on one dataset row.

A template file holds `dataset` (and optionally `subset`) plus `templates`, a mapping from template id to an entry
{id, name, answer_choices, jinja, metadata} (other keys, such as promptsource's `reference`, are ignored). `jinja` is
"prompt ||| target"; `answer_choices` is a Jinja string whose render is split on "|||" (older files give a plain
list). Files written by promptsource itself tag the entries `!Template` and `!TemplateMetadata`; the loader below
accepts those tags, so such files load unchanged.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import yaml
from jinja2 import StrictUndefined, meta, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateError as JinjaError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

SEPARATOR = "|||"
RNG = "_datagen_rng"  # context variable holding the render's seeded random.Random
# names a template may use that are not dataset columns
GLOBALS = {"answer_choices", "zip", "range", "loop", RNG}


class TemplateError(ValueError):
    """A template could not be loaded or rendered; the message names the template and the row."""


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads promptsource's `!Template` / `!TemplateMetadata` tags as plain mappings."""


def _as_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    return loader.construct_mapping(node, deep=True)


TemplateLoader.add_constructor("!Template", _as_mapping)
TemplateLoader.add_constructor("!TemplateMetadata", _as_mapping)


@pass_context
def _choice(context: Context, items: Sequence[Any]) -> Any:
    return context[RNG].choice(list(items))


@pass_context
def _permutation(context: Context, n: int) -> list[int]:
    return context[RNG].sample(range(n), n)


def _most_frequent(items: Sequence[Any]) -> list[Any] | None:
    counts = Counter(items).most_common()
    return [item for item, n in counts if n == counts[0][1]] if counts else None


# the helpers promptsource offers its templates, so that its files render here too; `choice` and `permutation`
# draw from a seeded generator instead of the global one
_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
_ENV.globals.update(zip=zip)
_ENV.filters.update(
    choice=_choice, permutation=_permutation, most_frequent=_most_frequent,
    reorder=lambda items, order: [items[i] for i in order], to_letter=lambda n: chr(ord("A") + n),
    highlight=lambda text: text,  # promptsource colours this in its browser app; plain text here
)


@lru_cache(maxsize=1024)
def _compiled(text: str) -> JinjaTemplate:
    return _ENV.from_string(text)


@dataclass
class Template:
    id: str
    name: str
    jinja: str
    answer_choices: str | list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file it came from, for error messages

    @property
    def label(self) -> str:
        return f"template {self.name!r} (id {self.id}, {self.source})"

    @property
    def original_task(self) -> bool | None:
        return self.metadata.get("original_task")

    @property
    def inverted(self) -> bool:
        """promptsource marks templates that do not pose the dataset's own task with original_task: false."""
        return self.original_task is False

    @property
    def choices_in_prompt(self) -> bool:
        return bool(self.metadata.get("choices_in_prompt"))

    def columns(self) -> set[str]:
        """Dataset columns the template reads."""
        choices = self.answer_choices if isinstance(self.answer_choices, str) else ""
        return _columns(self.jinja) | _columns(choices)


@lru_cache(maxsize=1024)
def _columns(text: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_ENV.parse(text)) - GLOBALS - set(_ENV.globals))


@dataclass
class TemplateSet:
    dataset: str
    subset: str | None
    templates: list[Template]
    source: str


def load_templates(path: str | Path) -> TemplateSet:
    """Read one promptsource-layout YAML file."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader)
    except (OSError, yaml.YAMLError) as err:
        raise TemplateError(f"{path}: cannot read template file: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict) or not data["templates"]:
        raise TemplateError(f"{path}: expected a mapping with a non-empty `templates:` mapping (promptsource layout)")
    templates = []
    for key, entry in data["templates"].items():
        if not isinstance(entry, dict) or not entry.get("jinja"):
            raise TemplateError(f"{path}: templates.{key}: needs a `jinja` string ('prompt ||| target')")
        templates.append(Template(
            id=str(entry.get("id") or key), name=str(entry.get("name") or key), jinja=entry["jinja"],
            answer_choices=entry.get("answer_choices"),
            metadata=dict(entry.get("metadata") or {}), source=str(path)))
        try:
            _ENV.parse(entry["jinja"])
        except JinjaError as err:
            raise TemplateError(f"{templates[-1].label}: invalid Jinja: {err}") from None
    return TemplateSet(dataset=str(data.get("dataset") or path.stem), subset=data.get("subset"),
                       templates=templates, source=str(path))


@dataclass
class Rendered:
    prompt: str
    target: str
    choices: list[str]


def render(template: Template, row: dict[str, Any], where: str, rng: random.Random | None = None) -> Rendered:
    """Render one row; `where` names the row ("data.csv row 12") in errors; `rng` feeds the `choice` and
    `permutation` filters (default: seeded by the row's place). Checks what promptsource leaves to the reader:
    missing columns, a label outside answer_choices, an empty prompt or target."""
    values = {**row, RNG: rng or random.Random(f"{template.id}/{where}")}
    missing = sorted(template.columns() - set(row))
    if missing:
        raise TemplateError(f"{template.label}: {where}: references column(s) {missing} that the row does not have "
                            f"(columns: {sorted(row)})")
    choices = _choices(template, values, where)
    label = row.get("label")
    if choices and isinstance(label, int) and not isinstance(label, bool) and not 0 <= label < len(choices):
        raise TemplateError(f"{template.label}: {where}: label {label} is outside answer_choices "
                            f"({len(choices)} choices: {choices})")
    try:
        text = _compiled(template.jinja).render(**values, answer_choices=choices)
    except JinjaError as err:
        raise TemplateError(f"{template.label}: {where}: render failed: {err}") from None
    parts = [p.strip() for p in text.split(SEPARATOR)]
    if len(parts) != 2:
        raise TemplateError(f"{template.label}: {where}: expected 'prompt {SEPARATOR} target', "
                            f"got {len(parts)} part(s)")
    prompt, target = parts
    if not prompt or not target:
        raise TemplateError(f"{template.label}: {where}: the {'prompt' if not prompt else 'target'} renders empty")
    if choices and not template.inverted and target not in choices:
        raise TemplateError(f"{template.label}: {where}: target {target!r} is outside answer_choices {choices}")
    return Rendered(prompt, target, choices)


def _choices(template: Template, row: dict[str, Any], where: str) -> list[str]:
    spec = template.answer_choices
    if not spec:
        return []
    if isinstance(spec, list):
        return [str(c).strip() for c in spec]
    try:
        text = _compiled(spec).render(**row)
    except JinjaError as err:
        raise TemplateError(f"{template.label}: {where}: answer_choices render failed: {err}") from None
    return [c.strip() for c in text.split(SEPARATOR)]
