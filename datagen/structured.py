"""Structured output: a JSON schema (or a pydantic model named `module:Class`) that an answer must follow.

The schema goes to the engine through SamplingParams.json_schema, which constrains decoding where it can; the
answer is then validated by a pydantic model, built from the schema or given, so every kept field is typed.
"""
from __future__ import annotations

import importlib
import json
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool}
_CONSTRAINTS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern", "minimum": "ge",
                "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt", "minItems": "min_length",
                "maxItems": "max_length"}
_IGNORED = {"type", "properties", "required", "items", "enum", "description", "title", "additionalProperties",
            "default", "$schema"}


class SchemaError(ValueError):
    pass


class InvalidOutput(ValueError):
    """An answer that is not JSON or breaks the schema; `reason` is short and stable, for the discard counts."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _field_type(schema: dict[str, Any], where: str) -> Any:
    unknown = set(schema) - _IGNORED - set(_CONSTRAINTS)
    if unknown:
        raise SchemaError(f"{where}: schema keys {sorted(unknown)} are not supported here; "
                          f"name a pydantic model instead (module:Class)")
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return model_from_schema(schema, where)
    if kind == "array":
        return list[_annotated(schema.get("items", {}), f"{where}.items")]
    if kind not in _TYPES:
        raise SchemaError(f"{where}: type must be one of object, array, {', '.join(_TYPES)}; got {kind!r}")
    return _TYPES[kind]


def _annotated(schema: dict[str, Any], where: str) -> Any:
    from typing import Annotated

    constraints = {_CONSTRAINTS[k]: v for k, v in schema.items() if k in _CONSTRAINTS}
    kind = _field_type(schema, where)
    return Annotated[kind, Field(**constraints)] if constraints else kind


def model_from_schema(schema: dict[str, Any], where: str = "schema") -> type[BaseModel]:
    """A pydantic model for a JSON schema of an object (the common keywords: types, enum, nested objects and
    arrays, required, length / range / pattern limits)."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not schema.get("properties"):
        raise SchemaError(f"{where}: must be an object schema with properties")
    required = set(schema.get("required", []))
    fields = {}
    for name, sub in schema["properties"].items():
        kind = _annotated(sub, f"{where}.properties.{name}")
        fields[name] = (kind, ...) if name in required else (Optional[kind], sub.get("default"))
    extra = "forbid" if schema.get("additionalProperties") is False else "ignore"
    return create_model(schema.get("title", "Output"), __config__=ConfigDict(extra=extra), **fields)


def import_model(path: str, where: str) -> type[BaseModel]:
    module, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise SchemaError(f"{where}: cannot import pydantic model {path!r} ({err})") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise SchemaError(f"{where}: {path!r} is not a pydantic model class")
    return cls


class OutputSchema:
    """What a step's answer must be: `json_schema` for the engine, `parse(text)` for the check."""

    def __init__(self, spec: dict[str, Any] | str, where: str = "schema") -> None:
        if isinstance(spec, str):
            self.model = import_model(spec, where)
            self.json_schema = self.model.model_json_schema()
        else:
            self.model = model_from_schema(spec, where)
            self.json_schema = spec

    def parse(self, text: str) -> dict[str, Any]:
        """The answer's fields, validated; raises InvalidOutput."""
        body = _json_text(text)
        try:
            data = json.loads(body)
        except json.JSONDecodeError as err:
            raise InvalidOutput("not JSON", str(err)) from None
        try:
            return self.model.model_validate(data).model_dump(mode="json")
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise InvalidOutput(f"schema: {field}: {first['type']}", first["msg"]) from None


def _json_text(text: str) -> str:
    """The JSON object in an answer: all of it when constrained; else the first {...} (after a code fence)."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else text
