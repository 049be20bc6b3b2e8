"""llama.cpp through llama-cpp-python: the CPU default, running the embedded SmolLM2 GGUF or any GGUF file."""
from __future__ import annotations

import bisect
import json
import os
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Sequence

from datagen.backends.base import Backend, Completion, Messages, MissingExtra, SamplingParams
from datagen.backends.chat_template import END_OF_TURN_TOKENS, render_template
from datagen.backends.embedded import resolve_model_path

if TYPE_CHECKING:
    from datagen.config import BackendConfig

# Keep at least this share of memory free when choosing worker counts.
_MEMORY_SHARE = 0.5

# Prompts are evaluated in chunks of at most this many tokens: one starts after every blank line, and every this
# many tokens after that. A prompt then reuses the cached KV rows of whole chunks it shares with the previous prompt,
# or with a saved state: they were computed from the same tokens in the same chunk shapes a fresh evaluation would
# use (where a chunk starts depends only on the tokens before it), so reuse saves work without changing any text
# (test_llamacpp_output_does_not_depend_on_what_ran_before; benchmarks/prefix_reuse.py measures both). A few-shot
# header ends with a blank line before the part that changes, so its prompts reuse the whole header, not only the
# multiple of 16 below it. Chunks at every line start were tried: many 1-4 token chunks made reading slower.
PREFIX_CHUNK = 16
# Saved states: a prompt head that comes back (a few-shot header, a system prompt) is kept as a state snapshot, so
# that it is reused even when other prompts ran in between. Saving or loading a state costs tens of milliseconds on a
# 2-core CPU, far less than evaluating a few-shot header again.
PREFIX_STATES = 8
_RECENT_PROMPTS = 32  # a head is saved once it comes back within this many prompts
# Every new head (two chunks or more) is also kept on trial, in a few slots of its own: a header seen once on a
# worker, then pushed out of the cache by other prompts, is not evaluated twice before it counts as recurring.
_TRIAL_STATES = 4


def shared_prefix(a: Sequence[int], b: Sequence[int], limit: int | None = None) -> int:
    """How many leading tokens `a` and `b` have in common (at most `limit`)."""
    n = min(len(a), len(b), len(b) if limit is None else limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LlamaCppBackend(Backend):
    name = "llamacpp"

    @classmethod
    def worker_plan(cls, config: BackendConfig) -> tuple[int, int | None]:
        """`workers: auto` is one single-thread process per core, as many as fit in half the memory: on a CPU,
        several single-thread llama.cpp processes give more tokens/s than one process with several threads."""
        if config.workers != "auto":
            return super().worker_plan(config)
        cores = os.cpu_count() or 1
        threads = config.threads or 1
        by_cores = max(1, cores // threads)
        try:
            size = resolve_model_path(config.model).stat().st_size
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            by_memory = max(1, int(memory * _MEMORY_SHARE // (size * 1.5)))
        except (OSError, ValueError):
            by_memory = by_cores
        workers = min(by_cores, by_memory)
        return workers, (threads if workers > 1 else None)

    def __init__(self, model: str = "embedded", n_ctx: int = 2048, threads: int | None = None,
                 chat_template: str | None = None, prefix_chunk: int = PREFIX_CHUNK,
                 prefix_states: int = PREFIX_STATES, chunks_at_paragraphs: bool = True) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:  # pragma: no cover - a core dependency
            raise MissingExtra("llamacpp", "llamacpp", "llama-cpp-python") from err
        path = resolve_model_path(model)
        super().__init__(str(path) if model not in ("", "embedded") else "embedded:" + path.stem)
        self.path = path
        self.threads = threads or os.cpu_count() or 1
        self.chunk = prefix_chunk
        self.chunks_at_paragraphs = chunks_at_paragraphs
        self.token_bytes: dict[int, bytes] = {}
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads, n_threads_batch=self.threads,
                         n_batch=prefix_chunk, n_ubatch=prefix_chunk, verbose=False)
        self.evaluated = 0  # prompt tokens of the last prompt: only whole chunks of these may be reused
        self.reused_tokens = 0
        self.prefix_states = prefix_states
        self.states: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # whole prompt chunks -> state, LRU first
        self.trial: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # heads seen once, oldest first
        self.recent: deque[list[int]] = deque(maxlen=_RECENT_PROMPTS)
        meta = self.llm.metadata
        self.template = chat_template or meta.get("tokenizer.chat_template")
        self.bos_text = self._token_text(self.llm.token_bos())
        self.eos_text = self._token_text(self.llm.token_eos())
        self.adds_bos = meta.get("tokenizer.ggml.add_bos_token", "true") != "false"

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        if not self.template:
            raise ValueError(f"{self.path.name} carries no chat template; set chat_template in the backend config")
        return render_template(self.template, messages, add_generation_prompt, self.bos_text, self.eos_text)

    @property
    def end_of_turn(self) -> list[str]:
        return [t for t in dict.fromkeys([self.eos_text, *END_OF_TURN_TOKENS]) if t]

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        grammar = None
        if params.json_schema is not None:
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_json_schema(json.dumps(params.json_schema), verbose=False)
        results = []
        for i, prompt in enumerate(prompts):
            if self.adds_bos and self.bos_text and prompt.startswith(self.bos_text):
                prompt = prompt[len(self.bos_text):]  # llama.cpp adds BOS itself; avoid a double BOS
            tokens = self.llm.tokenize(prompt.encode("utf-8"), special=True)  # as create_completion would
            starts = self.chunk_starts(tokens)
            choices = []
            for j in range(params.n):
                seed = params.seed_for(i, j)
                cached = self._keep_shared_chunks(tokens, starts)
                self._evaluate_whole_chunks(tokens, starts)
                out = self.llm.create_completion(
                    tokens,
                    max_tokens=params.max_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    stop=list(params.stop) or None,
                    seed=seed,
                    top_k=0,  # 0 = off: temperature/top_p mean what they mean on vLLM
                    min_p=0.0,
                    repeat_penalty=params.repetition_penalty,
                    presence_penalty=params.presence_penalty,
                    grammar=grammar,
                )
                if j == 0:
                    self._save_head(tokens, starts)
                choice, usage = out["choices"][0], out["usage"]
                choices.append(Completion(choice["text"], choice.get("finish_reason") or None,
                                          usage["prompt_tokens"], usage["completion_tokens"], cached))
            results.append(choices)
        return results

    def chunk_starts(self, tokens: Sequence[int]) -> list[int]:
        """Where `tokens`' chunks start, up to len(tokens) included: at 0, after every blank line, and every
        `chunk` tokens after one. Each start depends only on the tokens before it, so two prompts agree on every
        start within the head they share."""
        starts, paragraph, tail = [0], 0, b""
        for position, token in enumerate(tokens, 1):
            tail = (tail + self._bytes(token))[-2:]
            if self.chunks_at_paragraphs and tail == b"\n\n":
                paragraph = position
            if (position - paragraph) % self.chunk == 0:
                starts.append(position)
        return starts

    def _bytes(self, token: int) -> bytes:
        text = self.token_bytes.get(token)
        if text is None:
            text = self.token_bytes[token] = self.llm.detokenize([token])
        return text

    @staticmethod
    def _whole_chunks(starts: list[int], shared: int) -> int:
        """The most tokens of a shared head that end at a chunk start (at most `shared`)."""
        return starts[bisect.bisect_right(starts, shared) - 1]

    def _evaluate_whole_chunks(self, tokens: list[int], starts: list[int]) -> None:
        """Evaluate the prompt after the reused head one chunk at a time, up to the last chunk start: a fresh and
        a cached evaluation then see the same chunks. create_completion evaluates the last chunk (one batch)."""
        last = self._whole_chunks(starts, len(tokens) - 1)
        todo = [s for s in starts if self.llm.n_tokens <= s <= last]
        for begin, end in zip(todo, todo[1:]):
            self.llm.eval(tokens[begin:end])

    def _keep_shared_chunks(self, tokens: list[int], starts: list[int]) -> int:
        """Cut the KV cache back to the whole chunks `tokens` shares with the previous prompt, or load the saved
        state that shares more. Generated tokens were evaluated one at a time, so they are never reused, and at
        least one prompt token is left to evaluate (the logits to sample from come from it). Returns how many
        prompt tokens are reused."""
        limit = len(tokens) - 1
        keep = self._whole_chunks(starts, shared_prefix(self.llm.input_ids[:min(self.llm.n_tokens, self.evaluated)],
                                                        tokens, limit))
        reach = {head: self._whole_chunks(starts, shared_prefix(head, tokens, limit))
                 for head in (*self.states, *self.trial)}
        best = max(reach, key=reach.__getitem__, default=None)
        if best is not None and reach[best] > keep:
            if best in self.trial:  # it came back: it is a saved state now
                self.states[best] = self.trial.pop(best)
            self.llm.load_state(self.states[best])
            self.states.move_to_end(best)
            self._evict()
            keep = reach[best]
        self.llm.n_tokens = keep  # the rest is evaluated from here, in the same chunks as from scratch
        self.evaluated = len(tokens)
        self.reused_tokens += keep
        return keep

    def _save_head(self, tokens: list[int], starts: list[int]) -> None:
        """Snapshot the state just evaluated when its head (two chunks or more) came in an earlier prompt too
        and no saved state holds it yet: such a head is likely to come back again. A head seen for the first time
        is kept on trial."""
        head = tuple(tokens[:self._whole_chunks(starts, len(tokens))])
        recurring = self._whole_chunks(starts, max((shared_prefix(seen, head) for seen in self.recent), default=0))
        self.recent.append(tokens)
        if self.prefix_states <= 0 or len(head) < 2 * self.chunk:
            return
        if recurring < 2 * self.chunk:
            self.trial[head] = self.llm.save_state()
            while len(self.trial) > _TRIAL_STATES:
                self.trial.popitem(last=False)
            return
        holder = next((saved for saved in (*self.states, *self.trial) if shared_prefix(saved, head) >= recurring),
                      None)
        if holder is None:
            self.states[head] = self.llm.save_state()
        elif holder in self.trial:  # it came back: it is a saved state now
            self.states[holder] = self.trial.pop(holder)
        self._evict()

    def forget_states(self) -> None:
        """Drop every saved state and the memory of recent prompts (tests and benchmarks start clean)."""
        self.states.clear()
        self.trial.clear()
        self.recent.clear()

    def _evict(self) -> None:
        while len(self.states) > self.prefix_states:
            self.states.popitem(last=False)

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()
