"""The one interface every model engine implements.

Two calls: `complete` continues raw prompt text (Magpie, Self-Instruct and Bonito need the exact prompt),
and `chat` answers message lists through the model's own chat template. Both take a list of inputs and
return, for each input, `params.n` completions.

Seeding: with `params.seed = s`, choice j of input i is sampled with seed `s + i * n + j`, so a result never
depends on how a call is split across workers (engines that cannot seed per input say so in their docstring).
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import Context, ContextVar
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, TypeVar

if TYPE_CHECKING:
    from datagen.config import BackendConfig

Messages = list[dict[str, str]]
T = TypeVar("T")


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings, one small value object used everywhere (after vLLM's SamplingParams)."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    # structured output: a JSON schema the answer must follow. Engines that can constrain decoding do
    # (llama.cpp grammar, vLLM structured outputs, OpenAI response_format); callers validate the text anyway
    json_schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, (list, str)):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_tokens < 1 or self.n < 1:
            raise ValueError(f"invalid sampling parameters: {self}")

    def replace(self, **changes: Any) -> "SamplingParams":
        return replace(self, **changes)

    def seed_for(self, index: int, choice: int = 0) -> int | None:
        """The seed of choice `choice` of input `index` of a call."""
        return None if self.seed is None else self.seed + index * self.n + choice

    def shifted(self, start: int) -> "SamplingParams":
        """Params for a slice of a call that begins at input `start`: its seeds match the whole call's."""
        return self if self.seed is None else replace(self, seed=self.seed_for(start))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


@dataclass
class Completion:
    text: str
    # None: the engine did not say why it stopped. Never read that as "stop": it may have been cut at max_tokens.
    finish_reason: Literal["stop", "length"] | str | None = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # of prompt_tokens, those the engine took from its cache of earlier prompts instead of reading them (0: none,
    # or the engine does not say)
    cached_tokens: int = 0


@dataclass
class Usage:
    """Running token totals, read by the progress bar and stats.json."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, taken from the engine's cache (see Completion)
    calls: int = 0
    unknown_finish: int = 0  # completions whose engine gave no finish reason
    cache_asked: int = 0  # inputs a call cache was asked for
    cache_hits: int = 0  # of those, answered from the cache

    def add(self, results: list[list[Completion]]) -> None:
        """Count one engine call here and in every `counting()` open in the caller's context."""
        with _COUNT_LOCK:
            for usage in (self, *_COUNTING.get()):
                usage.calls += 1
                for choices in results:
                    # all n choices share one prompt
                    usage.prompt_tokens += choices[0].prompt_tokens if choices else 0
                    usage.cached_prompt_tokens += choices[0].cached_tokens if choices else 0
                    usage.completion_tokens += sum(c.completion_tokens for c in choices)
                    usage.unknown_finish += sum(c.finish_reason is None for c in choices)

    def add_cache(self, asked: int, hits: int) -> None:
        with _COUNT_LOCK:
            for usage in (self, *_COUNTING.get()):
                usage.cache_asked += asked
                usage.cache_hits += hits

    def add_here(self) -> None:
        """Add these counts to every `counting()` open in the caller's context (see `counted_apart`)."""
        with _COUNT_LOCK:
            for usage in _COUNTING.get():
                for name, value in asdict(self).items():
                    setattr(usage, name, getattr(usage, name) + value)


_COUNTING: ContextVar[tuple[Usage, ...]] = ContextVar("datagen_counting", default=())
_COUNT_LOCK = threading.Lock()


@contextmanager
def counting() -> Iterator[Usage]:
    """Count into a fresh Usage the engine work of the calls made inside the block, on any engine, including
    calls from threads that run a copy of this context (contextvars.copy_context): work done side by side is
    then told apart by who asked for it, not by when it ran."""
    usage = Usage()
    token = _COUNTING.set((*_COUNTING.get(), usage))
    try:
        yield usage
    finally:
        _COUNTING.reset(token)


def counted_apart(call: Callable[[], T]) -> tuple[T, Usage]:
    """Run `call` outside every open `counting()`, its engine work counted into a Usage of its own: for work
    started early (in a background thread) that belongs to whoever uses its result, who calls `add_here()`."""
    def run() -> tuple[T, Usage]:
        with counting() as usage:
            return call(), usage
    return Context().run(run)


class Backend(ABC):
    """A model engine. Subclasses set `name` and implement `_complete` / `_chat` / `render_chat`."""

    name: str = "base"
    # False: one call at a time (an in-process model is not safe to call from two threads, and the runner
    # filters one shard while the generator makes the next); engines that queue calls themselves say True
    concurrent_calls: bool = False

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage = Usage()

    # -- sizing: how the runner spreads this engine over processes, read from its backend block ----------
    @classmethod
    def worker_plan(cls, config: BackendConfig) -> tuple[int, int | None]:
        """(worker processes, threads per worker). `workers: auto` means one: most engines parallelise inside
        one process."""
        return (1 if config.workers == "auto" else config.workers), config.threads

    @classmethod
    def gpus_per_actor(cls, config: BackendConfig) -> float:
        """GPUs one Ray actor holding this engine asks for, unless `ray.num_gpus_per_worker` says otherwise."""
        return 0.0

    # -- public API ---------------------------------------------------------------------------
    def complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        with self._one_call_at_a_time():
            results = self._complete(list(prompts), params) if prompts else []
        self.usage.add(results)
        return results

    def chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        with self._one_call_at_a_time():
            results = self._chat([list(c) for c in conversations], params) if conversations else []
        self.usage.add(results)
        return results

    def _one_call_at_a_time(self) -> AbstractContextManager:
        if self.concurrent_calls:
            return nullcontext()
        return self.__dict__.setdefault("_call_lock", threading.Lock())  # setdefault: one lock even if raced

    @abstractmethod
    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        """The model's own chat template applied to `messages`, as raw prompt text."""

    def count_tokens(self, text: str) -> int:
        """Token count of `text`; engines override with their tokenizer."""
        return len(text.split())

    @property
    def end_of_turn(self) -> list[str]:
        """Strings that end an assistant turn in the chat template (stop strings for raw completion)."""
        return []

    def close(self) -> None:
        """Release the engine (memory, processes)."""

    # -- engine hooks -------------------------------------------------------------------------
    @abstractmethod
    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        ...

    def _chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        """Default: render each conversation with the chat template and complete it raw."""
        prompts = [self.render_chat(c) for c in conversations]
        stop = tuple(dict.fromkeys([*params.stop, *self.end_of_turn]))
        return self._complete(prompts, params.replace(stop=stop))

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LazyBackend:
    """For step contexts (dataclasses with `name`, `backend_factory` and `_backend` fields): the engine is built
    on first use, so steps that never call a model never load one."""

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self.backend_factory is None:
                raise RuntimeError(f"{self.name} needs a model backend but none is configured")
            self._backend = self.backend_factory()
        return self._backend


class BackendError(RuntimeError):
    """An engine failed in a way the user has to fix (a dead or misbehaving server): a one-line message."""


class MissingExtra(ImportError):
    """An optional engine is not installed; the message names the pip extra to install."""

    def __init__(self, backend: str, extra: str, package: str) -> None:
        super().__init__(
            f"the {backend!r} backend needs the {package!r} package, which is not installed. "
            f"Install it with: pip install 'datagen[{extra}]'"
        )
