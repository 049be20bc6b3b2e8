"""Heuristic quality checks, each switchable: turn lengths, repetition, truncation, a dangling ':' instruction,
refusal / self-reference phrases, and language. Every record it sees also gets `scores["quality"]` in [0, 1]
(see `quality_score`), so a dataset can be sorted and cut instead of only kept or rejected.

Truncation: a finish reason "length" is a cut answer; any other (including a missing or "unknown" one) says
nothing, and the text decides: a Latin-script answer of `truncation_min_words` or more that stops on a letter or a
comma ends mid-sentence (a shorter one is a label or a span: "positive", "the first Saturday of October"). Other
scripts (Arabic, CJK) and emoji have endings of their own, so they are never judged by that rule.

Refusal phrases are phrases only ("As an AI language model", "I cannot fulfill"), never topic words, so answers
about hard subjects pass. Language id: langdetect with a fixed seed, or fastText lid.176 when `fasttext_model`
points at the model file and the fasttext package is installed.
"""
from __future__ import annotations

import re
import unicodedata
from functools import cached_property

from pydantic import Field

from datagen.filters.base import FilterParams, RecordFilter
from datagen.filters.repetition import repetition_problem, repetition_ratio
from datagen.filters.text import normalize_exact
from datagen.records import Record

REFUSAL_PHRASES = [
    "as an ai language model", "as an ai model", "as a language model", "as an ai assistant, i", "i am an ai language model",
    "i'm an ai language model", "i cannot fulfill", "i can't fulfill", "i cannot comply", "i can't comply",
    "i'm not able to provide", "i am not able to provide", "i cannot provide assistance", "i'm sorry, but i can't",
    "i'm sorry, but i cannot", "i am sorry, but i cannot", "i apologize, but i cannot", "i must decline",
    "i do not have personal opinions", "i don't have personal opinions", "my knowledge cutoff",
    "openai's policy", "against my programming",
    # pseudo-refusals of small chat models ("as a chatbot designed to assist with sports, I don't have the capability")
    "as a chatbot designed to", "as an ai designed to", "i don't have the capability to", "i do not have the capability to",
]
# "as a SmolLM-supported service provider, I don't have the ability to ...": the speaker names itself as some kind of
# assistant and, in the same sentence, says what it cannot do. Any wording of both halves, not a fixed phrase.
SELF_DISCLAIMER = re.compile(
    r"\bas an? (?:[\w+-]+ ){0,4}?(?:ai|chatbot|bot|assistant|language model|model|service provider|program)\b"
    r"[^.!?\n]{0,120}?\bi (?:don't|do not|can't|cannot|am not able|'m not able|am unable|'m unable|"
    r"lack|have no|won't be able)\b"
    # the small models' stock opener: an apology nobody asked for, then "as a <anything>"
    r"|\bsorry for (?:your loss|your absence|any \w+|the \w+), but as an? ")
_SENTENCE_END = re.compile(r"""[.!?…:;)\]}"'`*>|\-]\s*$|```\s*$|\d\s*$|[\U0001F300-\U0001FAFF]\s*$""")


def ends_mid_sentence(text: str) -> bool:
    """A Latin-script text that stops on a letter or a comma (emoji and other scripts end as they like)."""
    text = text.rstrip()
    if not text or _SENTENCE_END.search(text):
        return False
    last = text[-1]
    return last in ",([{" or unicodedata.name(last, "").startswith("LATIN")


class QualityParams(FilterParams):
    min_instruction_words: int | None = Field(3, ge=0)
    max_instruction_words: int | None = Field(1000, ge=1)
    min_response_words: int | None = Field(2, ge=0)
    max_response_words: int | None = Field(4000, ge=1)
    repetition: bool = True
    repetition_min_words: int = Field(50, ge=1, description="n-gram repetition rules apply from this length on")
    truncation: bool = True
    truncation_by_text: bool = Field(True, description="also flag answers that end mid-sentence")
    truncation_min_words: int = Field(6, ge=1, description="shorter answers (a class label, a span) are judged by "
                                      "the finish reason alone, never by how they end")
    colon_instruction: bool = True
    input_echo: bool = Field(True, description="reject a Self-Instruct input that repeats its instruction")
    refusals: bool = True
    refusal_phrases: list[str] = Field(default_factory=lambda: list(REFUSAL_PHRASES))
    languages: list[str] | None = Field(["en"], description="allowed language codes; null turns the check off")
    language_min_chars: int = Field(40, ge=1, description="shorter texts are too short to identify")
    language_threshold: float = Field(0.65, ge=0, le=1)
    fasttext_model: str | None = None


class Quality(RecordFilter):
    name = "quality"
    Params = QualityParams

    def check(self, record: Record) -> str | None:
        for problem in (self._lengths(record), self._repetition(record), self._truncated(record),
                        self._colon(record), self._echo(record), self._refusal(record), self._language(record)):
            if problem:
                return problem
        return None

    def apply(self, records: list[Record]) -> list[Record]:
        out = super().apply(records)
        for record in out:
            record.scores["quality"] = self.quality_score(record)
        return out

    def quality_score(self, record: Record) -> float:
        """A product of soft signals, each in [0, 1]: complete (not truncated), not repetitive, long enough, not a
        refusal (the `refusal` classifier's probability when it ran, else the phrase list), no unsupported link."""
        answer = record.response
        complete = 0.0 if record.metadata.get("finish_reason") == "length" or ends_mid_sentence(answer) else 1.0
        repetition = min(1.0, max(0.0, 1.5 - repetition_ratio(answer, self.params.repetition_min_words)))
        length = min(1.0, len(answer.split()) / 20)
        refusal = 1.0 - record.scores["refusal"] if "refusal" in record.scores else \
            (0.0 if self._refusal(record) else 1.0)
        linked = 0.5 if "unsupported_link" in record.tags else 1.0
        return round(complete * repetition * length * refusal * linked, 4)

    def _lengths(self, record: Record) -> str | None:
        p = self.params
        for m in record.messages:
            lo, hi = ((p.min_instruction_words, p.max_instruction_words) if m.role == "user" else
                      (p.min_response_words, p.max_response_words) if m.role == "assistant" else (None, None))
            n = len(m.content.split())
            if lo is not None and n < lo:
                return f"{m.role} turn shorter than {lo} words"
            if hi is not None and n > hi:
                return f"{m.role} turn longer than {hi} words"
        return None

    def _repetition(self, record: Record) -> str | None:
        if not self.params.repetition:
            return None
        for m in record.messages:
            if m.role == "assistant" and (problem := repetition_problem(m.content, self.params.repetition_min_words)):
                return f"repetitive answer: {problem}"
        return None

    def _truncated(self, record: Record) -> str | None:
        if not self.params.truncation:
            return None
        if record.metadata.get("finish_reason") == "length":
            return "truncated answer (hit max_tokens)"
        if self.params.truncation_by_text and len(record.response.split()) >= self.params.truncation_min_words \
                and ends_mid_sentence(record.response):
            return "truncated answer (ends mid-sentence)"
        return None

    def _colon(self, record: Record) -> str | None:
        # one line ending in ':' announces an input that never came; a longer prompt ending in a cue ("Answer:")
        # holds its input above the cue
        instruction = record.instruction.strip()
        if self.params.colon_instruction and instruction.endswith(":") and "\n" not in instruction:
            return "instruction ends with ':' (its input is missing)"
        return None

    def _echo(self, record: Record) -> str | None:
        task, given = record.metadata.get("instruction"), record.metadata.get("input")
        if self.params.input_echo and isinstance(task, str) and isinstance(given, str) and given.strip() and \
                normalize_exact(given) in normalize_exact(task):
            return "input repeats the instruction"
        return None

    def _refusal(self, record: Record) -> str | None:
        if not self.params.refusals:
            return None
        text = " ".join(record.response.lower().replace("’", "'").split())
        phrase = next((ph for ph in self.params.refusal_phrases if ph in text), None)
        if phrase is None and (found := SELF_DISCLAIMER.search(text)):
            phrase = found.group(0)
        return f"refusal or self-reference: {phrase!r}" if phrase else None

    # -- language ----------------------------------------------------------------------------------
    @cached_property
    def _fasttext(self):
        if not self.params.fasttext_model:
            return None
        try:
            import fasttext
        except ImportError:
            return None
        path = self.ctx.resolve_path(self.params.fasttext_model, f"filters.{self.ctx.name}.fasttext_model")
        return fasttext.load_model(str(path))

    def detect(self, text: str) -> tuple[str, float]:
        text = " ".join(text.split())
        if self._fasttext is not None:
            labels, probs = self._fasttext.predict(text, k=1)
            return labels[0].removeprefix("__label__"), float(probs[0])
        from langdetect import DetectorFactory, detect_langs

        DetectorFactory.seed = self.ctx.seed  # langdetect samples: a fixed seed makes it repeatable
        best = detect_langs(text)[0]
        return best.lang, best.prob

    def _language(self, record: Record) -> str | None:
        allowed = self.params.languages
        if not allowed:
            return None
        for m in record.messages:
            if len(m.content) < self.params.language_min_chars or not re.search(r"[^\W\d_]{3}", m.content):
                continue
            lang, prob = self.detect(m.content)
            if prob >= self.params.language_threshold and lang not in allowed:
                return f"language {lang} not in {','.join(allowed)}"
        return None
