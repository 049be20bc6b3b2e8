"""Self-Instruct: grow a pool of instructions from seed tasks by asking the model to continue a numbered list.

Bootstrap mode (the reference method), per batch:
  1. `prompts_per_batch` prompts, each listing 8 instructions (6 seeds + 2 from the machine pool; all seeds while
     the pool is empty), shuffled; the model continues the list;
  2. parse, drop bad candidates (length, blacklisted words, punctuation / non-ASCII start, "Write a program",
     the cut-off last item), then drop those with ROUGE-L F1 > 0.7 against seeds + pool (in order);
  3. ask the model (few-shot, greedy, up to 3 tokens ending at a line break) whether each new task is classification;
  4. generate instances: output first (class label, then input) for classification, input first otherwise,
     after `instance_demos` seed tasks of that kind, each with up to `max_instances` of its instances (tasks with
     several preferred), drawn once for the whole run (the reference shows every task one fixed set of examples;
     the prompts of a kind share that head, which each worker evaluates once); clean them; one record per instance.
Alpaca mode (`mode: alpaca`): 3 seeds per prompt, the model writes up to 20 instruction/input/output triples at once.

The machine pool holds the instructions that became records, so a resumed run rebuilds it from `history`.
Nothing is generated beyond `count`: a batch that needs fewer records than `prompts_per_batch` sends fewer prompts,
and instances are generated only for as many admitted instructions as could still be needed.

Requests in flight: while batch N classifies and expands its instructions, the list prompts of batch N+1 are
already being answered, as soon as batch N cannot reach `count` on its own (checked when its instructions are
admitted and again after each expansion is read), so nothing is generated in vain. For that,
the prompts of batch N+1 show machine instructions of batches up to N-1: the pool they sample from lags one batch
behind, always, so the records are the same whether or not a batch was asked for early. The ROUGE-L filter still
admits in order, against every instruction kept before. On a backend that queues calls itself (a worker pool, a
server), each list prompt is a call of its own, and its instructions are admitted and expanded as soon as it and the
ones before it are answered; each admitted instruction is classified and expanded as a chain of its own, several in
flight, instead of one classification call for all of them followed by one instance call. A worker that is done
with its share of one step then starts on the next step of another instruction.
"""
from __future__ import annotations

import random
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from functools import partial
from typing import Iterator, Literal

from pydantic import Field

from datagen.backends.base import Completion, SamplingParams, counted_apart
from datagen.generators.helpers import self_instruct_text as text
from datagen.generators.base import Generator, GeneratorParams, derive_seed
from datagen.records import Record, make_record
from datagen.rouge import RougePool

DEFAULTS = {  # mode -> decoding defaults of the reference implementations
    "bootstrap": {"temperature": 0.7, "top_p": 0.5, "presence_penalty": 2.0, "max_tokens": 1024, "seeds": 6},
    "alpaca": {"temperature": 1.0, "top_p": 1.0, "presence_penalty": 0.0, "max_tokens": 3072, "seeds": 3},
}
CHAINS = 8  # instructions classified and expanded at once on a backend that queues calls itself


class SelfInstructParams(GeneratorParams):
    mode: Literal["bootstrap", "alpaca"] = "bootstrap"
    seed_file: str = Field("seeds/self_instruct_seeds.jsonl", description="seed tasks, reference JSONL layout")
    prompts_per_batch: int = Field(5, ge=1, description="list-continuation prompts sent together per batch")
    seeds_per_prompt: int | None = Field(None, ge=1, description="default 6 (bootstrap) or 3 (alpaca)")
    machine_per_prompt: int = Field(2, ge=0, description="pool instructions per bootstrap prompt")
    alpaca_tasks: int = Field(20, ge=2, description="tasks asked for per alpaca prompt")
    temperature: float | None = Field(None, ge=0, description="default 0.7 (bootstrap) or 1.0 (alpaca)")
    top_p: float | None = Field(None, gt=0, le=1, description="default 0.5 (bootstrap) or 1.0 (alpaca)")
    presence_penalty: float | None = Field(None, description="default 2.0 (bootstrap) or 0 (alpaca)")
    max_tokens: int | None = Field(None, ge=1, description="default 1024 (bootstrap) or 3072 (alpaca)")
    similarity_threshold: float = Field(0.7, gt=0, le=1, description="reject ROUGE-L F1 above this")
    classify_max_tokens: int = 3
    instance_temperature: float = 0.0
    instance_presence_penalty: float = 1.5
    instance_max_tokens: int = 300
    max_instances: int = Field(5, ge=1, description="instances kept per task")
    instance_demos: int = Field(2, ge=0, description="seed tasks shown as examples for instance generation")
    task_type_min_similarity: float = Field(0.3, description="nearest-seed ROUGE-L needed to inherit its kind")
    max_idle_batches: int = Field(10, ge=1, description="stop after this many batches in a row yield nothing")


class SelfInstruct(Generator):
    name = "self_instruct"
    Params = SelfInstructParams
    ask_ahead = True  # False: each batch's list prompts go out in turn (same records, workers idle more)

    def discard(self, reason: str, count: int = 1) -> None:
        if count:  # keep stats free of zero entries
            super().discard(reason, count)

    def _setting(self, key: str):
        value = getattr(self.params, "seeds_per_prompt" if key == "seeds" else key)
        return DEFAULTS[self.params.mode][key] if value is None else value

    def sampling(self, batch: int) -> SamplingParams:
        p = self.params
        if p.mode == "alpaca":
            stop = (f"\n{p.alpaca_tasks + 1}.", f"{p.alpaca_tasks + 1}. Instruction")
        else:
            stop = ("\n\n", "\n16", "16.", "16 .")
        return SamplingParams(temperature=self._setting("temperature"), top_p=self._setting("top_p"),
                              presence_penalty=self._setting("presence_penalty"),
                              max_tokens=self._setting("max_tokens"), stop=stop, seed=self.ctx.batch_seed(batch))

    # -- state --------------------------------------------------------------------------------------
    def _restore(self, history: list[Record]) -> None:
        self.seeds = text.load_seed_tasks(self.ctx.resolve_path(self.params.seed_file,
                                                                 f"generators.{self.ctx.name}.seed_file"))
        by_index = {r.metadata["pool_index"]: (r.metadata["instruction"], r.provenance.batch) for r in history
                    if r.provenance.generator == self.name and "pool_index" in r.metadata}
        self.machine = [by_index[i][0] for i in sorted(by_index)]
        self.machine_batch = [by_index[i][1] for i in sorted(by_index)]  # the batch that added each
        self.rouge = RougePool([s.instruction for s in self.seeds] + self.machine,
                               threshold=self.params.similarity_threshold)
        self.emitted = len(history)
        self.demos = self._instance_demos(random.Random(derive_seed(self.ctx.seed, self.ctx.name, "instance demos")))

    def _visible(self, batch: int) -> list[str]:
        """The pool a batch's list prompts sample from: instructions added up to two batches before it."""
        return [m for m, added in zip(self.machine, self.machine_batch) if added <= batch - 2]

    def batches(self, start: int, history: list[Record]) -> Iterator[list[Record]]:
        self._restore(history)
        productive = {r.provenance.batch for r in history}
        idle = next((k for k in range(start) if start - 1 - k in productive), start)  # trailing empty batches
        batch, early = start, None
        with ThreadPoolExecutor(2 * self.params.prompts_per_batch, thread_name_prefix="self-instruct-ask") as asking:
            while self.emitted < self.ctx.count and idle < self.params.max_idle_batches:
                room = self.ctx.count - self.emitted
                if self.params.mode == "alpaca":
                    records = self._alpaca(batch, self.ctx.rng(batch), room)
                else:
                    asked, early = early or self._ask(batch, room, asking), None

                    def ask_next(at_most: int, batch=batch, room=room, idle=idle):
                        """Start batch+1's list prompts (once) as soon as this batch cannot fill `count`: it
                        makes at most `at_most` more records. Then batch+1 is sure to be needed, with room for
                        all its prompts, so asking it early does not change what it asks."""
                        nonlocal early
                        left = room - at_most
                        if early is None and self.ask_ahead and left >= self.params.prompts_per_batch and \
                                idle + 1 < self.params.max_idle_batches:
                            early = self._ask(batch + 1, left, asking)
                    records = self._bootstrap(batch, room, asked, ask_next)
                if len(records) > room:
                    self.discard("beyond count", len(records) - room)
                    records = records[:room]
                self.emitted += len(records)
                idle = 0 if records else idle + 1
                yield records
                batch += 1
            for _, answers in early or []:
                answers.cancel()

    def _admit(self, candidates: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        """Rule filters, then the ROUGE-L filter against seeds + pool, in order."""
        passed = []
        for instruction, sources in candidates:
            problem = text.instruction_problem(instruction)
            if problem:
                self.discard(problem)
            else:
                passed.append((instruction, sources))
        verdicts = self.rouge.admit([c[0] for c in passed])
        self.discard(f"rouge-l > {self.params.similarity_threshold}", sum(not keep for keep, _, _ in verdicts))
        return [c for c, (keep, _, _) in zip(passed, verdicts) if keep]

    def _commit(self, size_before: int, kept: list[str], batch: int) -> None:
        """Only instructions that became records stay in the pool (so that resume can rebuild it)."""
        self.rouge.truncate(size_before)
        for instruction in kept:
            self.rouge.add(instruction)
            self.machine.append(instruction)
            self.machine_batch.append(batch)

    def _task_type(self, instruction: str) -> str:
        score, index = self.rouge.nearest(instruction, among=len(self.seeds))
        kind = self.seeds[index].task_type if index >= 0 else None
        return kind if kind and score >= self.params.task_type_min_similarity else "self_instruct"

    def _record(self, instruction: str, inst: dict[str, str], is_cls: bool | None, sampling: SamplingParams,
                sources: list[str], batch: int, pool_index: int, **metadata) -> Record:
        user = instruction + (f"\n\n{inst['input']}" if inst["input"] else "")
        return make_record(user, inst["output"], self.provenance(sampling, sources, batch),
                           task_type=self._task_type(instruction),
                           metadata={"instruction": instruction, "input": inst["input"], "is_classification": is_cls,
                                     "pool_index": pool_index, **metadata})

    # -- bootstrap ----------------------------------------------------------------------------------
    def _ask(self, batch: int, room: int, asking: ThreadPoolExecutor) -> list[tuple[list[list[str]], Future]]:
        """Build a batch's list prompts (fewer than `prompts_per_batch` only when fewer records are needed: a
        prompt is counted on for at least one) and send them through `asking`. On a backend that queues calls
        itself, each prompt is a call of its own, so the first answer is read while the others are still written.
        Returns, per call, the seed ids of its prompts and the future of their answers."""
        p, rng = self.params, self.ctx.rng(batch)
        visible = self._visible(batch)
        prompts, sources = [], []
        for _ in range(min(p.prompts_per_batch, room)):
            machine = rng.sample(visible, min(p.machine_per_prompt, len(visible)))
            wanted = self._setting("seeds") + p.machine_per_prompt - len(machine)  # 8 in all, as the reference
            seeds = rng.sample(self.seeds, min(len(self.seeds), wanted))
            listed = [s.instruction for s in seeds] + machine
            rng.shuffle(listed)
            prompts.append(text.bootstrap_prompt(listed))
            sources.append([s.id for s in seeds])
        sampling = self.sampling(batch)
        calls = [[i] for i in range(len(prompts))] if self.ctx.backend.concurrent_calls else [list(range(len(prompts)))]
        # counted apart, and added to the batch that reads the answers, whenever and wherever they were made;
        # each call seeded as its prompts are in the whole batch
        return [([sources[i] for i in call],
                 asking.submit(counted_apart, partial(self.ctx.backend.complete, [prompts[i] for i in call],
                                                      sampling.shifted(call[0]))))
                for call in calls]

    def _bootstrap(self, batch: int, room: int, asked: list[tuple[list[list[str]], Future]],
                   ask_next) -> list[Record]:
        """Read the list answers in order, admitting each one's instructions and starting their expansion as soon
        as it arrives; `ask_next` (the most records this batch can still make) may start the next batch's list
        prompts meanwhile."""
        size_before = len(self.rouge)
        concurrent = self.ctx.backend.concurrent_calls
        with ThreadPoolExecutor(CHAINS if concurrent else 1, thread_name_prefix="self-instruct-chain") as chains:
            expansion = _Expansion(self, batch, room, chains)
            for sources, answers in asked:
                replies, used = answers.result()
                used.add_here()
                candidates = []
                for choices, ids in zip(replies, sources):
                    items, cut = text.parse_numbered(choices[0].text, choices[0].finish_reason == "length")
                    self.discard("cut off by max_tokens", cut)
                    candidates += [(item, ids) for item in items]
                expansion.add(self._admit(candidates))
            ask_next(len(expansion.admitted) * self.params.max_instances)
            expansion.finish(ask_next)
        self.discard("beyond count (instruction not expanded)", expansion.not_started)
        self._commit(size_before, expansion.kept, batch)
        return expansion.records

    def _instance_records(self, instruction: str, ids: list[str], is_cls: bool, instances: list[dict[str, str]],
                          batch: int, pool_index: int) -> list[Record]:
        return [self._record(instruction, inst, is_cls, self.sampling(batch), ids, batch, pool_index,
                             instance_demos=[d.id for d in self.demos[is_cls]]) for inst in instances]

    def _instance_demos(self, rng: random.Random) -> dict[bool, list[text.SeedTask]]:
        """The seed tasks shown before every instance prompt of the run, per kind (classification or not). Tasks
        with several instances are preferred: shown one instance per task, the model writes one instance per task,
        where the reference's demos show several (its paper reports 82K instances for 52K tasks)."""
        demos = {}
        for cls in (False, True):
            pool = [s for s in self.seeds if s.instances and s.is_classification == cls] or \
                   [s for s in self.seeds if s.instances]
            several = [s for s in pool if len(s.instances) > 1]
            if len(several) >= self.params.instance_demos:
                pool = several
            demos[cls] = rng.sample(pool, min(self.params.instance_demos, len(pool)))
        return demos

    def _ask_instances(self, group: list[tuple[str, list[str]]]) -> tuple[list[bool], list[Completion]]:
        """Classification identification, then the instance prompt, for each instruction of `group`."""
        p = self.params
        # greedy, ending at a line break or a next "Task", as the reference asks
        greedy = SamplingParams(temperature=0.0, max_tokens=p.classify_max_tokens, stop=("\n", "Task"))
        answers = self.ctx.backend.complete([text.classify_prompt(i) for i, _ in group], greedy)
        is_cls = [text.parse_yes_no(a[0].text) is True for a in answers]
        prompts = [text.instance_prompt(task, self.demos[cls], cls, p.max_instances)
                   for (task, _), cls in zip(group, is_cls)]
        sampling = SamplingParams(temperature=p.instance_temperature, presence_penalty=p.instance_presence_penalty,
                                  max_tokens=p.instance_max_tokens, stop=("\nTask:",))
        return is_cls, [choices[0] for choices in self.ctx.backend.complete(prompts, sampling)]

    def _clean_instances(self, reply: Completion, is_cls: bool) -> list[dict[str, str]]:
        parsed, unused = text.parse_instances(reply.text, is_cls, self.params.max_instances,
                                              truncated=reply.finish_reason == "length")
        if not parsed:
            self.discard("no parsable instance")
        kept, dropped = text.clean_instances(parsed)
        for reason, n in [*unused.items(), *dropped.items()]:
            self.discard(reason, n)
        return kept

    # -- alpaca single step -------------------------------------------------------------------------
    def _alpaca(self, batch: int, rng: random.Random, room: int) -> list[Record]:
        p, sampling = self.params, self.sampling(batch)
        prompts, sources = [], []
        for _ in range(min(p.prompts_per_batch, room)):  # as in bootstrap mode
            demos = rng.sample(self.seeds, min(self._setting("seeds"), len(self.seeds)))
            prompts.append(text.alpaca_prompt(demos, p.alpaca_tasks))
            sources.append([d.id for d in demos])
        tasks: dict[str, tuple[dict[str, str], list[str]]] = {}
        candidates = []
        for choices, ids in zip(self.ctx.backend.complete(prompts, sampling), sources):
            parsed, bad, cut = text.parse_alpaca(choices[0].text, len(ids) + 1, choices[0].finish_reason == "length")
            self.discard("unparsable task block", bad)
            self.discard("cut off by max_tokens", cut)
            for task in parsed:
                kept, dropped = text.clean_instances([task])
                for reason, n in dropped.items():
                    self.discard(reason, n)
                if kept:
                    candidates.append((task["instruction"], ids))
                    tasks.setdefault(task["instruction"], (kept[0], ids))
        size_before = len(self.rouge)
        records = [self._record(instruction, tasks[instruction][0], None, sampling, ids, batch,
                                len(self.machine) + n)
                   for n, (instruction, ids) in enumerate(self._admit(candidates))]
        self._commit(size_before, [r.metadata["instruction"] for r in records], batch)
        return records


class _Expansion:
    """Classifies and expands a batch's admitted instructions in order, each one only once the ones before it
    cannot fill `room` even if each gives `max_instances`: which instructions are expanded, and so the records, do
    not depend on timing. A backend that queues calls itself (a worker pool, a server) gets one chain per
    instruction, classification then instances, several in flight, so no worker waits for the others at a barrier
    between the two steps; any other backend gets one batched call per step."""

    def __init__(self, generator: SelfInstruct, batch: int, room: int, chains: ThreadPoolExecutor) -> None:
        self.generator, self.batch, self.room, self.chains = generator, batch, room, chains
        self.concurrent = generator.ctx.backend.concurrent_calls
        self.admitted: list[tuple[str, list[str]]] = []
        self.started = 0
        self.waiting: deque[tuple[list[tuple[str, list[str]]], Future]] = deque()
        self.records: list[Record] = []
        self.kept: list[str] = []  # instructions that gave records, in order

    @property
    def not_started(self) -> int:
        return len(self.admitted) - self.started

    def _upper_bound(self) -> int:
        """The most records this batch can still end with."""
        unanswered = sum(len(group) for group, _ in self.waiting) + self.not_started
        return len(self.records) + unanswered * self.generator.params.max_instances

    def add(self, admitted: list[tuple[str, list[str]]]) -> None:
        self.admitted += admitted
        self._start()

    def _start(self) -> None:
        """Start every instruction that is needed even if each one before it gives `max_instances`."""
        most = self.generator.params.max_instances
        in_flight = sum(len(group) for group, _ in self.waiting)
        free = self.room - len(self.records) - in_flight * most
        take = min(self.not_started, max(0, -(-free // most)))
        new = self.admitted[self.started:self.started + take]
        self.started += take
        for group in [[one] for one in new] if self.concurrent else [new] if new else []:
            # a copy of this context per chain: its engine work is counted for this batch
            self.waiting.append((group, self.chains.submit(copy_context().run, self.generator._ask_instances, group)))

    def finish(self, ask_next) -> None:
        """Read the answers in order, starting more instructions while some could still be needed."""
        generator = self.generator
        while True:
            self._start()
            if not self.waiting:
                return
            group, answers = self.waiting.popleft()
            for (instruction, ids), is_cls, reply in zip(group, *answers.result()):
                instances = generator._clean_instances(reply, is_cls)
                if instances:
                    index = len(generator.machine) + len(self.kept)
                    self.records += generator._instance_records(instruction, ids, is_cls, instances, self.batch, index)
                    self.kept.append(instruction)
            ask_next(self._upper_bound())  # a tighter bound after each answer
