"""Labelled evaluation tasks: rows of a real dataset (never trained on) shown through one promptsource template;
a model's answer is correct when it starts with the right answer choice. Proportions carry a 95% Wilson interval."""
from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field

from datagen.generators.helpers.labelled import DataSource, load_rows
from datagen.generators.helpers.promptsource import load_templates, render


class EvalTask(DataSource):
    task_type: str = Field(description="task cluster, e.g. sentiment or nli")
    cluster: Literal["trained", "heldout"] = Field(
        description="trained: held-out rows of a task cluster trained on; heldout: a cluster never trained on "
                    "(zero-shot transfer)")
    templates: str = Field(description="promptsource-layout YAML file")
    template: str | None = Field(None, description="template id in that file (default: the first)")
    limit: int | None = Field(None, ge=1, description="score at most this many rows (the first ones)")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of the proportion k/n (well-behaved at small n and near 0 or 1)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {"value": round(k / n, 4) if n else None, "k": k, "n": n, "low": round(low, 4), "high": round(high, 4)}


def load_items(task: EvalTask, resolve: Any, where: str) -> list[dict[str, Any]]:
    """[{prompt, target, choices}] for the task's rows."""
    templates = load_templates(resolve(task.templates, f"{where}.templates")).templates
    chosen = [t for t in templates if task.template in (None, t.id, t.name)]
    if not chosen:
        raise ValueError(f"{where}.template: no template {task.template!r} in {task.templates} "
                         f"(ids: {', '.join(t.id for t in templates)})")
    rows = load_rows(task, resolve, where)[:task.limit]
    origin = ",".join(task.files()) or task.hub
    items = []
    for i, row in enumerate(rows):
        shown = render(chosen[0], row, f"{origin} row {i}")
        items.append({"prompt": shown.prompt, "target": shown.target, "choices": list(shown.choices or [])})
    return items


def _norm(text: str) -> str:
    return re.sub(r"[^\w ]+", " ", text.lower()).split("\n")[0].strip()


def picked(answer: str, choices: list[str]) -> str | None:
    """The answer choice the answer starts with (longest first, so 'not entailment' beats 'not'), or None."""
    text = " ".join(_norm(answer).split())
    for choice in sorted(choices, key=len, reverse=True):
        norm = " ".join(_norm(choice).split())
        if norm and (text == norm or text.startswith(norm + " ")):
            return choice
    return None


def score(items: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, share answered with a choice, share that ended by itself, each with n and a 95% interval."""
    picks = [picked(a["text"], item["choices"]) for item, a in zip(items, answers)]
    n = len(items)
    return {"accuracy": proportion(sum(p == item["target"] for p, item in zip(picks, items)), n),
            "answered": proportion(sum(p is not None for p in picks), n),
            "stopped": proportion(sum(a["stopped"] for a in answers), n)}
