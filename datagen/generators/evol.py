"""Evol-Instruct: rewrite instructions, round after round, into harder (in-depth) or rarer (in-breadth) ones.

Each work item is a chain started from one input instruction. Every round picks an operation for each chain,
asks the model to evolve the chain's current instruction, answers the evolved one, and applies the elimination
rules. A surviving evolution becomes a record and the chain's new current instruction; a failed one is counted
with its reason and the chain keeps its instruction for the next round (it goes back to the pool).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from pydantic import Field, field_validator

from datagen.backends.base import SamplingParams
from datagen.generators.answer import Answer, AnswerParams
from datagen.generators.base import derive_seed
from datagen.generators.helpers.prompt_files import load_prompt_data
from datagen.records import Message, Record

OPERATIONS = ("constraints", "deepen", "concretize", "reasoning", "complicate_input", "breadth")


class EvolParams(AnswerParams):
    rounds: int = Field(2, ge=1, le=10)
    operations: list[str] = Field(default_factory=lambda: list(OPERATIONS), min_length=1)
    temperature: float = Field(1.0, ge=0, description="evolution sampling")
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, ge=8, description="longest evolved instruction")
    response_temperature: float = Field(0.0, ge=0)
    response_max_tokens: int = Field(256, ge=1)
    check_equal: bool = Field(True, description="ask the model whether the evolution added anything")
    sorry_max_words: int = Field(80, ge=1, description="a response with 'sorry' shorter than this is a refusal")

    @field_validator("operations")
    @classmethod
    def _known(cls, ops: list[str]) -> list[str]:
        unknown = [op for op in ops if op not in OPERATIONS]
        if unknown:
            raise ValueError(f"unknown operations {unknown}; known: {', '.join(OPERATIONS)}")
        return ops


# --- the elimination rules ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def copies_meta_prompt(evolved: str) -> bool:
    lower = evolved.lower()
    return any(phrase in lower for phrase in load_prompt_data("evol")["leak_phrases"])


def evolution_problem(current: str, evolved: str, finish_reason: str | None) -> str | None:
    """Why an evolved instruction is unusable, before asking the model anything; None if it may go on."""
    if not evolved.strip():
        return "empty evolution"
    if finish_reason == "length":
        return "truncated evolution"
    if copies_meta_prompt(evolved):
        return "copies meta-prompt words"
    if _norm(evolved) == _norm(current):
        return "no information gain (unchanged)"
    return None


def parse_equal(answer: str) -> bool | None:
    """The model's verdict on 'Equal / Not Equal': True, False, or None when it said neither."""
    lower = answer.lower()
    if re.search(r"\bnot\s+equal\b|\bunequal\b|\bdifferent\b", lower):
        return False
    if re.search(r"\bequal\b|\bsame\b", lower):
        return True
    return None


def response_problem(response: str, sorry_max_words: int = 80) -> str | None:
    words = re.findall(r"\w+(?:'\w+)?", response.lower())
    if "sorry" in response.lower() and len(words) < sorry_max_words:
        return "response is a short apology"
    if all(w in _stop_words() for w in words):  # also true when there are no words at all
        return "response is only punctuation and stop words"
    return None


@dataclass
class Chain:
    source: str
    ancestor: str
    current: str
    operations: list[str] = field(default_factory=list)


class EvolInstruct(Answer):
    name = "evol_instruct"
    Params = EvolParams

    def _seed(self, batch: int, *stage: object) -> int:
        return derive_seed(self.ctx.batch_seed(batch), *stage) % (2**31 - 2**20)

    def meta_prompt(self, operation: str, instruction: str) -> str:
        prompts = load_prompt_data("evol")
        return prompts["operations"][operation].format(instruction=instruction, depth_rules=prompts["depth_rules"])

    def run_batch(self, items: Sequence[tuple[str, str]], batch: int) -> list[Record]:
        p, backend, rng = self.params, self.ctx.backend, self.ctx.rng(batch)
        evolve = SamplingParams(temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens,
                                seed=self._seed(batch, "evolve"))
        judge = SamplingParams(temperature=0.0, max_tokens=4, seed=self._seed(batch, "judge"))
        answer = SamplingParams(temperature=p.response_temperature, max_tokens=p.response_max_tokens,
                                seed=self._seed(batch, "answer"))
        sampling = {"evolve": evolve.to_dict(), "judge": judge.to_dict(), "response": answer.to_dict()}
        head = [{"role": "system", "content": p.system_prompt}] if p.system_prompt else []
        chains = [Chain(source, text, text) for source, text in items]
        records = []
        for rnd in range(1, p.rounds + 1):
            ops = [rng.choice(p.operations) for _ in chains]
            outs = backend.chat([[{"role": "user", "content": self.meta_prompt(op, c.current)}]
                                 for op, c in zip(ops, chains)], evolve.replace(seed=self._seed(batch, "evolve", rnd)))
            candidates = []
            for chain, op, choices in zip(chains, ops, outs):
                evolved = choices[0].text.strip()
                reason = evolution_problem(chain.current, evolved, choices[0].finish_reason)
                if reason:
                    self.discard(reason)
                else:
                    candidates.append((chain, op, evolved, None))
            if p.check_equal and candidates:
                prompts = [[{"role": "user", "content": load_prompt_data("evol")["equal_check"].format(
                    first=chain.current, second=evolved)}] for chain, _, evolved, _ in candidates]
                verdicts = backend.chat(prompts, judge.replace(seed=self._seed(batch, "judge", rnd)))
                judged = []
                for (chain, op, evolved, _), choices in zip(candidates, verdicts):
                    equal = parse_equal(choices[0].text)
                    if equal is True:
                        self.discard("no information gain (judged equal)")
                        continue
                    if equal is None:  # kept, as the method keeps what is not judged equal, but counted
                        self.flag("equal check said neither equal nor not equal")
                    judged.append((chain, op, evolved, choices[0].text.strip()))
                candidates = judged
            responses = backend.chat([head + [{"role": "user", "content": evolved}] for _, _, evolved, _ in candidates],
                                     answer.replace(seed=self._seed(batch, "answer", rnd)))
            for (chain, op, evolved, verdict), choices in zip(candidates, responses):
                text = choices[0].text.strip()
                reason = response_problem(text, p.sorry_max_words)
                if reason:
                    self.discard(reason)
                    continue
                metadata = {"ancestor": chain.ancestor, "parent": chain.current, "operation": op,
                            "operations": [*chain.operations, op], "round": rnd, "equal_check": verdict,
                            "finish_reason": choices[0].finish_reason}
                messages = [Message(**m) for m in head] + [Message(role="user", content=evolved),
                                                           Message(role="assistant", content=text)]
                records.append(Record(messages=messages, metadata=metadata,
                                      provenance=self.provenance(sampling, [chain.source], batch)))
                chain.current, chain.operations = evolved, [*chain.operations, op]
        return records
