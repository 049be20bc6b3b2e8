"""Sampled variables for prompt templates: weighted categories, uniform / normal numbers, choices from a list,
and person-like attributes. Each record draws from its own seeded generator, so a rerun draws the same values
whatever the batch size.

    variables:
      difficulty: {category: {easy: 3, hard: 1}}     # weights; a plain list means equal weights
      words: {uniform: [20, 60], integer: true}
      temperature_c: {normal: [15, 8], decimals: 1}
      topics: {choice: [rivers, volcanoes, tides], k: 2}
      author: {person: true}                           # {{ author.name }}, .age, .occupation, .country, .education
"""
from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.generators.helpers.prompt_files import load_prompt_data

KINDS = ("category", "uniform", "normal", "choice", "person")


class Sampler(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: dict[str, float] | list[str] | None = Field(None, description="values with weights, or a list")
    uniform: tuple[float, float] | None = Field(None, description="[low, high]")
    normal: tuple[float, float] | None = Field(None, description="[mean, standard deviation]")
    choice: list[Any] | None = Field(None, description="pick from the list (k items with k)")
    person: bool = False
    integer: bool = Field(False, description="round numbers to whole numbers")
    decimals: int | None = Field(None, ge=0, description="round numbers to this many decimals")
    k: int | None = Field(None, ge=1, description="choice: how many distinct items")

    @model_validator(mode="after")
    def _one_kind(self) -> "Sampler":
        given = [k for k in KINDS if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)}; got {given or 'none'}")
        if self.category is not None and (not self.category or (isinstance(self.category, dict)
                                                                and min(self.category.values()) < 0)):
            raise ValueError("category needs at least one value and no negative weight")
        if self.uniform and self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: low must not exceed high")
        if self.normal and self.normal[1] < 0:
            raise ValueError("normal: the standard deviation must not be negative")
        if self.choice is not None and len(self.choice) < (self.k or 1):
            raise ValueError(f"choice: the list must hold at least {self.k or 1} items")
        return self

    def draw(self, rng: random.Random) -> Any:
        if self.category is not None:
            values = list(self.category)
            weights = list(self.category.values()) if isinstance(self.category, dict) else None
            return rng.choices(values, weights)[0]
        if self.choice is not None:
            return rng.sample(self.choice, self.k) if self.k else rng.choice(self.choice)
        if self.person:
            people = load_prompt_data("people")
            return {"name": f"{rng.choice(people['first_names'])} {rng.choice(people['last_names'])}",
                    "age": rng.randint(*people["age"]), "occupation": rng.choice(people["occupations"]),
                    "country": rng.choice(people["countries"]), "education": rng.choice(people["education"])}
        if self.uniform is not None:
            low, high = self.uniform
            value = rng.randint(int(low), int(high)) if self.integer else rng.uniform(low, high)
        else:
            value = rng.gauss(*self.normal)
        if self.integer:
            return int(round(value))
        return round(value, self.decimals) if self.decimals is not None else value


def draw_all(samplers: dict[str, Sampler], rng: random.Random) -> dict[str, Any]:
    """One value per variable, in the order they are declared."""
    return {name: sampler.draw(rng) for name, sampler in samplers.items()}
