"""Safety: classify records into the S1..S14 hazard taxonomy and drop them, or turn some into refusal examples.

Checkers: `patterns` (fast request patterns, safety_taxonomy.py), `llm` (a classifier prompt: a Llama Guard style
prompt when the backend model is a Llama Guard model, a plain classification prompt to the instruction model
otherwise), or `both`. With `action: refuse`, a `refusal_share` of the unsafe requests is kept with the answer
replaced by a refusal (safety-tuning data, after Bianchi et al. 2023), the rest rejected with their categories.
"""
from __future__ import annotations

import re
from typing import Literal

import xxhash
from pydantic import Field

from datagen.backends.base import SamplingParams
from datagen.filters.base import Filter, FilterParams
from datagen.filters.safety_taxonomy import CATEGORIES, describe, refusal, screen
from datagen.records import Message, Record

_CATEGORY_LIST = "\n".join(f"{code}: {name}." for code, name in CATEGORIES.items())

GUARD_PROMPT = """Task: decide whether the User's message in the conversation below is unsafe according to the \
hazard categories listed.

<BEGIN UNSAFE CONTENT CATEGORIES>
{categories}
<END UNSAFE CONTENT CATEGORIES>

<BEGIN CONVERSATION>

User: {request}

<END CONVERSATION>

Give your assessment of the User's last message:
- The first line must read 'safe' or 'unsafe'.
- If unsafe, a second line must list the violated categories, separated by commas."""

CLASSIFY_PROMPT = """You review requests sent to an assistant. Decide whether the request below asks for harmful \
content in one of these categories:
{categories}

Request:
\"\"\"{request}\"\"\"

Reply with one word on the first line, safe or unsafe. If unsafe, write the category codes (like S2) on the second \
line."""

REFUSAL_PROMPT = """Write a short, polite reply that declines the following request because it could cause harm \
({categories}). Do not give any of the requested content; offer a safe alternative if one exists.

Request: {request}"""

_LLAMA3_TURN = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n")
_VERDICT = re.compile(r"^\W*(safe|unsafe)\b", re.IGNORECASE)
_CODES = re.compile(r"\bS(1[0-4]|[1-9])\b")


def parse_verdict(text: str) -> tuple[bool, list[str]] | None:
    """(unsafe, categories) from 'safe' / 'unsafe\\nS1,S2' style output; None when it says neither."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    match = _VERDICT.match(lines[0])
    if match is None:
        return None
    if match.group(1).lower() == "safe":
        return False, []
    codes = [f"S{c}" for c in _CODES.findall("\n".join(lines[:3]))]
    return True, list(dict.fromkeys(codes))


class SafetyParams(FilterParams):
    checker: Literal["patterns", "llm", "both"] = "patterns"
    roles: list[Literal["user", "assistant"]] = Field(["user"], description="turns screened")
    action: Literal["reject", "refuse"] = "reject"
    refusal_share: float = Field(0.1, ge=0, le=1, description="share of unsafe requests kept as refusals")
    refusal_writer: Literal["template", "model"] = "template"
    on_unparsed: Literal["keep", "reject"] = "keep"
    max_tokens: int = Field(24, ge=4)


class Safety(Filter):
    name = "safety"
    Params = SafetyParams

    def _text(self, record: Record) -> str:
        return "\n".join(m.content for m in record.messages if m.role in self.params.roles)

    def _is_guard_model(self) -> bool:
        return "guard" in self.ctx.backend.model.lower()

    def classify(self, texts: list[str]) -> list[tuple[bool, list[str]] | None]:
        """The LLM checker, batched: one prompt per text."""
        backend, sampling = self.ctx.backend, SamplingParams(temperature=0.0, max_tokens=self.params.max_tokens,
                                                             seed=self.ctx.seed)
        if self._is_guard_model():
            prompts = [_LLAMA3_TURN.format(prompt=GUARD_PROMPT.format(categories=_CATEGORY_LIST, request=t))
                       for t in texts]
            outputs = backend.complete(prompts, sampling)
        else:
            chats = [[{"role": "user", "content": CLASSIFY_PROMPT.format(categories=_CATEGORY_LIST, request=t)}]
                     for t in texts]
            outputs = backend.chat(chats, sampling)
        return [parse_verdict(choices[0].text) for choices in outputs]

    def _chosen(self, record: Record) -> bool:
        """A fixed, seeded draw: the same record is a refusal example in every run with the same seed."""
        draw = xxhash.xxh64_intdigest(record.id.encode(), seed=self.ctx.seed) / 2**64
        return draw < self.params.refusal_share

    def _refusals(self, records: list[Record], categories: list[list[str]]) -> list[str]:
        if self.params.refusal_writer == "template":
            return [refusal(cats, xxhash.xxh32_intdigest(r.id.encode())) for r, cats in zip(records, categories)]
        chats = [[{"role": "user", "content": REFUSAL_PROMPT.format(categories=describe(cats), request=r.instruction)}]
                 for r, cats in zip(records, categories)]
        outputs = self.ctx.backend.chat(chats, SamplingParams(temperature=0.0, max_tokens=96, seed=self.ctx.seed))
        return [choices[0].text.strip() or refusal(cats, 0) for choices, cats in zip(outputs, categories)]

    def apply(self, records: list[Record]) -> list[Record]:
        texts = [self._text(r) for r in records]
        found: list[list[str]] = [screen(t) if self.params.checker != "llm" else [] for t in texts]
        unparsed = [False] * len(records)
        if self.params.checker != "patterns":
            for i, result in enumerate(self.classify(texts)):
                if result is None:
                    unparsed[i] = True
                elif result[0]:
                    found[i] = list(dict.fromkeys(found[i] + (result[1] or ["unspecified"])))
        refuse = [i for i, cats in enumerate(found) if cats and self.params.action == "refuse"
                  and self._chosen(records[i])]
        replies = dict(zip(refuse, self._refusals([records[i] for i in refuse], [found[i] for i in refuse])))
        out = []
        for i, (record, cats) in enumerate(zip(records, found)):
            if i in replies:
                out.append(self._as_refusal(record, cats, replies[i]))
            elif cats:
                out.append(self.reject(record, f"unsafe: {describe(cats)}", categories=cats))
            elif unparsed[i] and self.params.on_unparsed == "reject":
                out.append(self.reject(record, "safety classifier output unparsed"))
            else:
                if unparsed[i]:
                    record.tags.append("safety_unparsed")
                out.append(self.keep(record, **({"unparsed": True} if unparsed[i] else {})))
        return out

    def _as_refusal(self, record: Record, categories: list[str], reply: str) -> Record:
        messages = list(record.messages[:-1]) + [Message(role="assistant", content=reply)]
        # the refusal is a complete answer, whatever ended the original one
        refused = record.with_messages(messages, tags=["safety_refusal"], metadata={
            "finish_reason": "stop", "refusal_of": record.id, "unsafe_categories": categories})
        return self.keep(refused, categories=categories, refusal=True)
