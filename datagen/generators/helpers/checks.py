"""Checks on a prompt step's answer: a Python expression over its fields, or a registered validator.

Expressions run in simpleeval (no imports, no attribute access to internals, no loops), never in eval():
    checks:
      - "len(answer.split()) >= 5 and difficulty in ['easy', 'hard']"
      - {validator: one_of, field: label, values: [world, sports, business, science]}
      - {validator: python_parses, field: code}
"""
from __future__ import annotations

import ast
import re
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, model_validator
from simpleeval import EvalWithCompoundTypes, NameNotDefined

FUNCTIONS = {f.__name__: f for f in (len, abs, min, max, sum, any, all, round, sorted, int, float, str, bool)}


def _python_parses(value: Any, check: "Check") -> bool:
    try:
        ast.parse(str(value))
    except (SyntaxError, ValueError):
        return False
    return True


def _one_of(value: Any, check: "Check") -> bool:
    return value in (check.values or [])


def _matches(value: Any, check: "Check") -> bool:
    return re.search(check.pattern or "", str(value)) is not None


VALIDATORS: dict[str, Callable[[Any, "Check"], bool]] = {
    "python_parses": _python_parses,
    "one_of": _one_of,
    "matches": _matches,
}


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expr: str | None = None
    validator: str | None = None
    field: str = "text"  # the answer's parsed field to check; "text" is the whole answer
    values: list[Any] | None = None  # one_of
    pattern: str | None = None  # matches (a regular expression, searched)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"expr": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_kind(self) -> "Check":
        if bool(self.expr) == bool(self.validator):
            raise ValueError("a check is an expression (a string or `expr`) or a `validator`, not both or neither")
        if self.validator and self.validator not in VALIDATORS:
            raise ValueError(f"unknown validator {self.validator!r}; known: {', '.join(VALIDATORS)}")
        if self.expr:
            EvalWithCompoundTypes().parse(self.expr)  # a syntax error shows at config time
        return self

    @property
    def label(self) -> str:
        return self.expr or f"{self.validator}({self.field})"

    def passes(self, names: dict[str, Any]) -> bool:
        """True when the answer passes; a name the expression uses but the step lacks is a config error."""
        if self.validator:
            return VALIDATORS[self.validator](names.get(self.field), self)
        try:
            return bool(EvalWithCompoundTypes(names=names, functions=FUNCTIONS).eval(self.expr))
        except NameNotDefined as err:
            raise ValueError(f"check {self.expr!r}: unknown name {err.name!r}; names here: "
                             f"{', '.join(sorted(names))}") from None
        except Exception:  # noqa: BLE001 - a type error on a model's odd answer is a failed check, not a crash
            return False
