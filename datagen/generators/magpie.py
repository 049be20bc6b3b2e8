"""Magpie: an aligned chat model, given only the text that opens a user turn, writes a user query itself.

Per record: render the pre-query template (system prompt + history + the opening of a user turn) from the
model's own chat template, sample a query (temperature 1, stop at end of turn and newline), clean it, and answer
it through the chat template at the response settings. n_turns > 1 repeats this on the growing conversation;
responses_per_instruction > 1 keeps several answers to the last query for later chosen/rejected selection.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

from pydantic import Field, model_validator

from datagen.backends.base import SamplingParams
from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.generators.helpers.magpie_template import KNOWN_FAMILIES, detect_family, pre_query_renderer, prefix_before_user
from datagen.generators.helpers.prompt_files import load_prompt_data
from datagen.records import Message, Record

def domain_presets() -> dict[str, str | None]:
    return load_prompt_data("magpie")["domains"]


class MagpieParams(GeneratorParams):
    template: str = Field("auto", description="auto (the model's own chat template) or a known family name")
    domain: str = Field("general", description="system-prompt preset that steers the topic")
    system_prompt: str | None = Field(None, description="free system prompt; replaces the domain preset")
    keep_system: bool = Field(False, description="keep the system prompt in the records (and answer with it)")
    n_turns: int = Field(1, ge=1, le=8)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(128, ge=8)
    stop_at_newline: bool = True
    min_query_words: int = Field(3, ge=1)
    response_temperature: float | None = Field(None, ge=0, description="default 0 (greedy), 0.8 with several")
    response_top_p: float = Field(1.0, gt=0, le=1)
    response_max_tokens: int = Field(512, ge=1)
    response_repetition_penalty: float = Field(1.0, gt=0, description="above 1 keeps small models out of loops")
    responses_per_instruction: int = Field(1, ge=1, le=16)

    @model_validator(mode="after")
    def _known_names(self) -> "MagpieParams":
        if self.template != "auto" and self.template not in KNOWN_FAMILIES:
            raise ValueError(f"template: {self.template!r} is not auto or a known family "
                             f"({', '.join(KNOWN_FAMILIES)})")
        if self.domain not in domain_presets():
            raise ValueError(f"domain: {self.domain!r} is not a preset ({', '.join(domain_presets())}); "
                             "use system_prompt for your own")
        return self


# --- cleaning sampled queries ------------------------------------------------------------------
_ROLE_TOKEN = re.compile(r"<\|[^|<>]{1,40}\|>|<start_of_turn>|<end_of_turn>|</?s>|<bos>|<eos>|\[/?INST\]")
_LABEL = re.compile(r"^(?:(?:task|user|question|instruction|query|prompt|human|request|input|q)\s*\d*\s*[:：]\s*"
                    r"|[#*>•\-]+\s*|\d+[.)]\s+)", re.IGNORECASE)
_ROLE_NAME = re.compile(r"^(?:user|assistant|system|model)\s*\n", re.IGNORECASE)  # left after a role token
_QUOTES = "\"'“”‘’`"
# a query that ends on one of these words without punctuation was cut off mid-sentence
_DANGLING = {"a", "an", "the", "and", "or", "but", "to", "of", "with", "for", "in", "on", "at", "by", "from",
             "my", "your", "our", "their", "his", "her", "its", "that", "this", "is", "are", "was", "be", "as",
             "if", "so", "than", "into", "about", "which", "who", "can", "could", "would", "will", "should"}


def sanitize_query(text: str, finish_reason: str | None = "stop", min_words: int = 3) -> tuple[str | None, str | None]:
    """(clean query, None) or (None, why it was thrown away)."""
    if finish_reason == "length":
        return None, "truncated query"
    match = _ROLE_TOKEN.search(text.strip())
    if match and match.start() > 0:  # the model opened another turn: what follows is not the query
        text = text.strip()[:match.start()]
    text = _ROLE_NAME.sub("", _ROLE_TOKEN.sub(" ", text).strip()).strip()
    while True:
        stripped = _LABEL.sub("", text, count=1).strip()
        if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
            stripped = text[1:-1].strip()
        elif text[:1] in _QUOTES and not any(q in text[1:] for q in _QUOTES):
            stripped = text[1:].strip()
        if stripped == text:
            break
        text = stripped
    words = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text)
    if not text:
        return None, "empty query"
    if not words:
        return None, "query without words"
    if len(words) < min_words:
        return None, "query too short"
    if text.endswith(":"):
        return None, "query ends with a colon"
    if text[-1].isalnum() and words[-1].lower() in _DANGLING:
        return None, "cut-off query"
    return text, None


class Magpie(Generator):
    name = "magpie"
    Params = MagpieParams

    def work_items(self) -> Sequence[int]:
        return range(self.ctx.count)

    @property
    def system_prompt(self) -> str | None:
        return self.params.system_prompt or domain_presets()[self.params.domain]

    def _seed(self, batch: int, *stage: Any) -> int:
        return derive_seed(self.ctx.batch_seed(batch), *stage) % (2**31 - 2**20)

    def _setup(self) -> None:
        if hasattr(self, "_render"):
            return
        backend, template = self.ctx.backend, self.params.template
        self._render = pre_query_renderer(backend.render_chat, template)
        self._family = detect_family(self._render) if template == "auto" else template
        extra_stop = [KNOWN_FAMILIES[template].eos] if template != "auto" else []
        self._end_of_turn = [s for s in dict.fromkeys([*backend.end_of_turn, *extra_stop]) if s]

    def sampling(self, batch: int) -> tuple[SamplingParams, SamplingParams]:
        p = self.params
        stop = [*self._end_of_turn, *(["\n"] if p.stop_at_newline else [])]
        query = SamplingParams(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, stop=tuple(stop),
                               seed=self._seed(batch, "query"))
        several = p.responses_per_instruction > 1
        temperature = p.response_temperature if p.response_temperature is not None else (0.8 if several else 0.0)
        response = SamplingParams(temperature=temperature, top_p=p.response_top_p, max_tokens=p.response_max_tokens,
                                  repetition_penalty=p.response_repetition_penalty, seed=self._seed(batch, "response"))
        return query, response

    def run_batch(self, items: Sequence[int], batch: int) -> list[Record]:
        self._setup()
        p, backend = self.params, self.ctx.backend
        query_params, response_params = self.sampling(batch)
        system = self.system_prompt
        head = [{"role": "system", "content": system}] if system and p.keep_system else []
        convs: list[list[dict[str, str]]] = [[] for _ in items]
        info: list[dict[str, Any]] = [{} for _ in items]
        alive = list(range(len(items)))
        for turn in range(p.n_turns):
            last = turn == p.n_turns - 1
            # the first turn's prefix is the same for every item: render it once (a pool renders over IPC)
            first = prefix_before_user(self._render, [], system) if turn == 0 else None
            prompts = [first or prefix_before_user(self._render, convs[i], system) for i in alive]
            if turn == 0:
                for i, prompt in zip(alive, prompts):
                    info[i]["pre_query"] = prompt
            outs = backend.complete(prompts, query_params.replace(seed=self._seed(batch, "query", turn)))
            asked = []
            for i, choices in zip(alive, outs):
                query, reason = sanitize_query(choices[0].text, choices[0].finish_reason, p.min_query_words)
                if query is None:
                    # a failed follow-up ends the conversation where it is; the earlier turns are kept
                    self.discard(reason if turn == 0 else f"follow-up {reason}")
                    info[i]["stopped"] = reason
                    continue
                convs[i].append({"role": "user", "content": query})
                asked.append(i)
            n = p.responses_per_instruction if last else 1
            outs = backend.chat([head + convs[i] for i in asked],
                                response_params.replace(n=n, seed=self._seed(batch, "response", turn)))
            alive = []
            for i, choices in zip(asked, outs):
                answers = [c for c in choices if c.text.strip()]
                if not answers:
                    self.discard("empty response" if turn == 0 else "follow-up empty response")
                    convs[i].pop()
                    info[i]["stopped"] = "empty response"
                    continue
                convs[i].append({"role": "assistant", "content": answers[0].text.strip()})
                info[i]["finish_reason"] = answers[0].finish_reason
                if n > 1:
                    info[i]["responses"] = [c.text.strip() for c in answers]
                    info[i]["response_finish_reasons"] = [c.finish_reason for c in answers]
                alive.append(i)
        sampling = {"query": query_params.to_dict(), "response": response_params.to_dict()}
        records = []
        for item, conv, extra in zip(items, convs, info):
            if not conv:
                continue  # already counted by discard()
            messages = [Message(**m) for m in head + conv]
            metadata = {"template": self._family or "auto", "domain": None if p.system_prompt else p.domain,
                        "turns": len(conv) // 2, **extra}
            records.append(Record(messages=messages, metadata=metadata,
                                  provenance=self.provenance(sampling, [f"magpie:{item}"], batch,
                                                             pre_query_family=self._family)))
        return records
