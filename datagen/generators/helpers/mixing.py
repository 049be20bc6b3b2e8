"""FLAN-style mixing and formats, shared by the `templates` and `import` generators.

Mixing: each task gets a share of the total proportional to its size, with sizes clipped at a cap
(examples-proportional mixing with a cap; FLAN's default cap is 3,000 examples per task), so that one large dataset
cannot crowd out the small ones.
Formats: zero-shot or few-shot (k solved exemplars of the same template before the query), each with or without an
OPTIONS block listing the answer choices.
"""
from __future__ import annotations

import random
from typing import Sequence

from datagen.generators.base import derive_seed

FLAN_CAP = 3000
FLAN_FEW_SHOT = 5
FORMATS: tuple[str, ...] = ("zs_noopt", "zs_opt", "fs_noopt", "fs_opt")


def mixing_rates(sizes: dict[str, int], cap: int | None = FLAN_CAP) -> dict[str, float]:
    """Examples-proportional rates: min(size, cap) / sum of the same over tasks."""
    clipped = {task: min(n, cap) if cap else n for task, n in sizes.items()}
    total = sum(clipped.values())
    if total == 0:
        raise ValueError(f"nothing to mix: every task is empty ({sizes})")
    return {task: n / total for task, n in clipped.items()}


def quotas(sizes: dict[str, int], total: int, cap: int | None = FLAN_CAP, repeat: bool = True) -> dict[str, int]:
    """How many examples each task contributes to `total`, by the rates above (largest-remainder rounding, so the
    quotas add up to `total`). With repeat=False a task never gives more than min(size, cap) examples."""
    rates = mixing_rates(sizes, cap)
    exact = {task: total * rate for task, rate in rates.items()}
    counts = {task: int(x) for task, x in exact.items()}
    by_remainder = sorted(rates, key=lambda t: (-(exact[t] - counts[t]), list(rates).index(t)))
    for task in by_remainder[: total - sum(counts.values())]:
        counts[task] += 1
    if not repeat:
        counts = {task: min(n, sizes[task], cap or sizes[task]) for task, n in counts.items()}
    return counts


def sample_rows(size: int, quota: int, seed: int, *key: object) -> list[tuple[int, int]]:
    """`quota` (row, pass) pairs from a task of `size` rows: a seeded shuffle, walked again with pass + 1 when the
    quota exceeds the size (a later pass draws new templates and formats for the same rows)."""
    order = list(range(size))
    random.Random(derive_seed(seed, "rows", *key)).shuffle(order)
    return [(order[i % size], i // size) for i in range(quota)] if size else []


def options_block(choices: Sequence[str]) -> str:
    return "OPTIONS:\n" + "\n".join(f"- {c}" for c in choices)


def with_options(prompt: str, choices: Sequence[str]) -> str:
    return f"{prompt}\n\n{options_block(choices)}" if choices else prompt


def few_shot_prompt(exemplars: Sequence[tuple[str, str]], prompt: str) -> str:
    """Solved exemplars, each prompt followed by its answer, then the query; blank lines between."""
    shots = "\n\n".join(f"{p}\n{t}" for p, t in exemplars)
    return f"{shots}\n\n{prompt}" if shots else prompt
