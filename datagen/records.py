"""The one record type every generator produces and every filter, trainer and exporter reads."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str

    @field_validator("content")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message content is empty")
        return value


class Verdict(BaseModel):
    """One filter's decision on one record. `reason` is required when the record is rejected."""

    model_config = ConfigDict(extra="forbid")

    filter: str
    keep: bool
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _reason_for_rejects(self) -> "Verdict":
        if not self.keep and not self.reason:
            raise ValueError(f"filter {self.filter!r} rejected a record without a reason")
        return self


class Provenance(BaseModel):
    """Where a record came from, in enough detail to regenerate it."""

    model_config = ConfigDict(extra="forbid")

    generator: str
    generator_params: dict[str, Any] = Field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    sampling: dict[str, Any] | None = None
    # seed-task ids, source document id, or "dataset/template" ids the record was made from
    sources: list[str] = Field(default_factory=list)
    run: str | None = None
    batch: int | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


def content_id(messages: list[Message]) -> str:
    """Stable id from the conversation text alone (sha256, 16 hex digits)."""
    canon = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    messages: list[Message]
    task_type: str | None = None
    category: str | None = None
    provenance: Provenance
    scores: dict[str, float] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    # generator-specific payloads, e.g. {"responses": [...]} for preference data
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("messages")
    @classmethod
    def _valid_conversation(cls, messages: list[Message]) -> list[Message]:
        if not messages:
            raise ValueError("a record needs at least one user and one assistant message")
        turns = [m for m in messages if m.role != "system"]
        if any(m.role == "system" for m in messages[len(messages) - len(turns):]):
            raise ValueError("system messages must come before the first user message")
        if not turns or turns[0].role != "user":
            raise ValueError("the first non-system message must be a user message")
        if turns[-1].role != "assistant":
            raise ValueError("the last message must be an assistant message")
        for i, (a, b) in enumerate(zip(turns, turns[1:])):
            if a.role == b.role:
                raise ValueError(f"turns must alternate user/assistant; two {a.role} messages at turn {i + 1}")
        return messages

    @model_validator(mode="after")
    def _fill_id(self) -> "Record":
        if not self.id:
            self.id = content_id(self.messages)
        return self

    # convenient views used by filters and exporters
    @property
    def system(self) -> str | None:
        return next((m.content for m in self.messages if m.role == "system"), None)

    @property
    def instruction(self) -> str:
        """The first user turn."""
        return next(m.content for m in self.messages if m.role == "user")

    @property
    def response(self) -> str:
        """The last assistant turn."""
        return self.messages[-1].content

    @property
    def kept(self) -> bool:
        return all(v.keep for v in self.verdicts)

    def rejection(self) -> Verdict | None:
        return next((v for v in self.verdicts if not v.keep), None)

    def with_messages(self, messages: list[Message], *, tags: Iterable[str] = (),
                      metadata: dict[str, Any] | None = None) -> "Record":
        """A copy with new text (e.g. scrubbed); the id is recomputed. Verdicts, scores, tags and metadata carry
        over as fresh copies, so changing the new record leaves this one alone; `tags` and `metadata` are added."""
        return self.model_copy(update={
            "messages": messages, "id": content_id(messages), "verdicts": list(self.verdicts),
            "scores": dict(self.scores), "tags": [*self.tags, *tags], "metadata": {**self.metadata, **(metadata or {})}})


def make_record(
    instruction: str,
    response: str,
    provenance: Provenance,
    *,
    system: str | None = None,
    **fields: Any,
) -> Record:
    """Shortcut for the common single-turn case."""
    messages = [Message(role="system", content=system)] if system else []
    messages += [Message(role="user", content=instruction), Message(role="assistant", content=response)]
    return Record(messages=messages, provenance=provenance, **fields)
