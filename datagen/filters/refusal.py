"""Refusals and pseudo-refusals ("as a chatbot designed to assist with sports, I don't have the capability to ..."):
logistic regression on all-MiniLM-L6-v2 sentence embeddings of the answer, trained on the train split of
tests/data/filter_eval (scripts/train_refusal.py) and shipped as datagen/filters/models/refusal.json (384 weights).

The answer is embedded whole and sentence by sentence; its score is the highest probability, so a disclaimer in
the middle of a long answer counts. Every record gets `scores["refusal"]`.

The labelled set holds too few pseudo-refusals to train the head well (3 in the train split; see docs/filters.md),
so the filter also rejects what the quality filter's refusal rules match: the refusal phrases and a self-disclaimer
in any wording ("as a <kind of> assistant ..., I don't/can't ..."). `rules: false` leaves the head alone.
"""
from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import Field

from datagen.filters.base import Filter, FilterParams
from datagen.filters.dedup_semantic import embedded_model_path
from datagen.filters.quality import REFUSAL_PHRASES, SELF_DISCLAIMER
from datagen.records import Record

WEIGHTS = Path(__file__).parent / "models" / "refusal.json"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str, limit: int = 8) -> list[str]:
    """The whole text, then its first `limit` sentences of 4 words or more."""
    parts = [s for s in _SENTENCE.split(" ".join(text.split())) if len(s.split()) >= 4]
    return [text, *parts[:limit]]


class RefusalParams(FilterParams):
    threshold: float | None = Field(None, gt=0, lt=1, description="reject from this probability on; "
                                    "default: the threshold chosen on the training split")
    batch_size: int = Field(64, ge=1)
    rules: bool = Field(True, description="also reject on the refusal phrases and self-disclaimer pattern")


def rule_match(answer: str) -> str | None:
    """The refusal phrase or self-disclaimer in `answer`, if any."""
    text = " ".join(answer.lower().replace("’", "'").split())
    phrase = next((ph for ph in REFUSAL_PHRASES if ph in text), None)
    found = phrase or SELF_DISCLAIMER.search(text)
    return found if isinstance(found, str) or found is None else found.group(0)


class Refusal(Filter):
    name = "refusal"
    Params = RefusalParams

    @cached_property
    def head(self) -> dict:
        return json.loads(WEIGHTS.read_text(encoding="utf-8"))

    @cached_property
    def encoder(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(embedded_model_path()), device="cpu", local_files_only=True)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.params.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)

    def probabilities(self, answers: list[str]) -> list[float]:
        pieces = [sentences(a) for a in answers]
        vectors = self.embed([p for ps in pieces for p in ps])
        logits = vectors @ np.asarray(self.head["coef"], dtype=np.float32) + self.head["intercept"]
        probs = 1 / (1 + np.exp(-logits))
        out, start = [], 0
        for ps in pieces:
            out.append(float(probs[start:start + len(ps)].max()))
            start += len(ps)
        return out

    def apply(self, records: list[Record]) -> list[Record]:
        threshold = self.params.threshold or self.head["threshold"]
        out = []
        for record, p in zip(records, self.probabilities([r.response for r in records]) if records else []):
            matched = rule_match(record.response) if self.params.rules else None
            record.scores["refusal"] = round(max(p, 1.0 if matched else 0.0), 4)
            if p >= threshold or matched:
                out.append(self.reject(record, "refusal or pseudo-refusal", probability=round(p, 4),
                                       **({"matched": matched} if matched else {})))
            else:
                out.append(self.keep(record))
        return out
