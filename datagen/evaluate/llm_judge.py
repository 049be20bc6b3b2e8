"""LLM-as-judge: a backend scores each response 0-100 against the reference answer."""
from __future__ import annotations

import re
from typing import Any

from datagen.backends.base import Backend, SamplingParams

JUDGE_PROMPT = (
    "You grade answers. Compare the candidate answer with the reference answer for the question below and rate "
    "how correct, complete and helpful the candidate is, from 0 (useless or wrong) to 100 (as good as the "
    "reference or better).\n\nQuestion:\n{question}\n\nReference answer:\n{reference}\n\n"
    "Candidate answer:\n{candidate}\n\nReply with the score as a single integer between 0 and 100 and nothing else."
)

SCORE_PREFIX = "Score:"
_LABELLED = re.compile(r"(?:score|rating|grade)\s*(?:is|of|=|:)?\s*\**\s*(\d{1,3}(?:\.\d+)?)", re.I)
_OUT_OF = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:/|out of)\s*(100|10|5)\b", re.I)
_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)(?![\d.])")


def parse_score(text: str) -> float | None:
    """The 0-100 score in a judge's reply: 'Score: 85', '**85**', '8/10' (scaled to 80), '4 out of 5' (80),
    or the first number between 0 and 100. None when there is no usable number."""
    match = _OUT_OF.search(text)
    if match:
        value, scale = float(match.group(1)), float(match.group(2))
        return value / scale * 100 if value <= scale else None
    for pattern in (_LABELLED, _NUMBER):
        for m in pattern.finditer(text):
            value = float(m.group(1))
            if 0 <= value <= 100:
                return value
    return None


def judge_replies(backend: Backend, items: list[dict[str, str]], max_tokens: int = 16) -> list[str]:
    """items: {question, reference, candidate}; greedy, one short reply each. Where the engine exposes its chat
    template, the reply is started with "Score:" so that even a small judge answers with a number first."""
    chats = [[{"role": "user", "content": JUDGE_PROMPT.format(**item)}] for item in items]
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=0)
    try:
        prompts = [backend.render_chat(chat) + SCORE_PREFIX for chat in chats]
    except (NotImplementedError, ValueError):  # e.g. a remote API: plain chat
        return [choices[0].text for choices in backend.chat(chats, params)]
    stop = (*backend.end_of_turn, "\n")  # the number comes on the first line
    return [SCORE_PREFIX + choices[0].text for choices in backend.complete(prompts, params.replace(stop=stop))]


def judge_scores(backend: Backend, items: list[dict[str, str]], max_tokens: int = 16) -> list[float | None]:
    return [parse_score(reply) for reply in judge_replies(backend, items, max_tokens)]


def summarize(scores: list[float | None]) -> dict[str, Any]:
    valid = [s for s in scores if s is not None]
    return {"mean": round(sum(valid) / len(valid), 2) if valid else None, "scored": len(valid),
            "unparsed": len(scores) - len(valid)}
