"""The generators' built-in prompt data, all in datagen/generators/prompts/: plain-text templates (`name.txt`) and
YAML tables (`name.yaml`). Every generator reads its files through these functions."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROMPTS = Path(__file__).parent.parent / "prompts"


def prompt_file(filename: str) -> Path:
    """The path of a built-in prompt file, for readers of their own (e.g. promptsource-layout templates)."""
    return PROMPTS / filename


@cache
def load_prompt(name: str) -> str:
    """The text of prompts/`name`.txt, exactly as written (str.format fields included)."""
    return prompt_file(f"{name}.txt").read_text(encoding="utf-8")


@cache
def load_prompt_data(name: str) -> Any:
    """The parsed contents of prompts/`name`.yaml (cached: treat it as read-only)."""
    return yaml.safe_load(prompt_file(f"{name}.yaml").read_text(encoding="utf-8"))
