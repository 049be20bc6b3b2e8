"""Any OpenAI-compatible HTTP server: vLLM serve, SGLang, TGI, llama.cpp's server, or a hosted API.

Raw completion uses /v1/completions (Magpie, Self-Instruct and Bonito need it); chat uses /v1/chat/completions.
Requests run `concurrency` at a time. The server owns the chat template, so `render_chat` needs the template
given in the config (a Jinja string, a file path, or a known family name such as chatml or llama3).

Failures: a refused or dropped connection, a timeout and HTTP 408/409/429/5xx are retried `max_retries` times,
waiting `retry_backoff` seconds, then twice that, and so on, with a line per retry; anything else (another HTTP
error, a body that is not JSON or holds no choices) stops at once. Either way the error names the server and
what it answered.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from tqdm import tqdm

from datagen.backends.base import Backend, BackendError, Completion, Messages, SamplingParams
from datagen.backends.chat_template import load_template, render_template

_TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    name = "openai"
    concurrent_calls = True  # HTTP requests; the server queues them

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 120.0, chat_template: str | None = None,
                 bos_token: str = "", eos_token: str = "", max_retries: int = 2, retry_backoff: float = 1.0,
                 send_repetition_penalty: bool | None = None,
                 schema_format: Literal["json_schema", "json_object"] = "json_schema") -> None:
        from openai import OpenAI, Timeout

        super().__init__(model)
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "none")
        # retries are ours (below), so that each one is reported; a dead host fails its connect within 10 s
        self.client = OpenAI(base_url=base_url, api_key=self.api_key, max_retries=0,
                             timeout=Timeout(timeout, connect=min(10.0, timeout)))
        self.base_url = base_url
        self.timeout, self.max_retries, self.retry_backoff = timeout, max_retries, retry_backoff
        self.concurrency = concurrency
        self.template = load_template(chat_template) if chat_template else None
        self.bos_token, self.eos_token = bos_token, eos_token
        # open servers read a repetition penalty (and llama.cpp's defaults to 1.1, so always send ours);
        # the OpenAI API itself rejects unknown fields
        self.send_repetition_penalty = ("api.openai.com" not in base_url if send_repetition_penalty is None
                                        else send_repetition_penalty)
        # how a JSON schema is sent: OpenAI's json_schema response format (OpenAI, vLLM, SGLang, llama.cpp's
        # llama-server), or json_object with the schema inside (llama-cpp-python's server)
        self.schema_format = schema_format

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        if not self.template:
            raise ValueError("the openai backend cannot see the server's chat template: set chat_template in the "
                             "backend config (a Jinja string, a file, or a family name such as chatml)")
        return render_template(self.template, messages, add_generation_prompt, self.bos_token, self.eos_token)

    def _request_args(self, params: SamplingParams, index: int) -> dict:
        args = dict(model=self.model, max_tokens=params.max_tokens, temperature=params.temperature,
                    top_p=params.top_p, n=params.n, presence_penalty=params.presence_penalty)
        if params.stop:
            args["stop"] = list(params.stop)
        seed = params.seed_for(index)
        if seed is not None:
            args["seed"] = seed
        if self.send_repetition_penalty:
            # not in the OpenAI schema; vLLM and SGLang read repetition_penalty, llama.cpp's server repeat_penalty
            args["extra_body"] = {"repetition_penalty": params.repetition_penalty,
                                  "repeat_penalty": params.repetition_penalty}
        if params.json_schema is not None:
            # in the body, so the raw completions endpoint gets it too (vLLM reads it there)
            args.setdefault("extra_body", {})["response_format"] = (
                {"type": "json_object", "schema": params.json_schema} if self.schema_format == "json_object"
                else {"type": "json_schema", "json_schema": {"name": "output", "schema": params.json_schema}})
        return args

    def _request(self, resource, **args):
        """One request, retried with exponential backoff while the failure may pass; returns the parsed reply."""
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                raw = resource.with_raw_response.create(**args)
            except openai.APITimeoutError:
                problem, transient = f"did not answer within {self.timeout:g} s (timeout)", True
            except openai.APIConnectionError as err:
                problem, transient = f"cannot be reached ({err.__cause__ or err})", True
            except openai.APIStatusError as err:
                problem = f"answered HTTP {err.status_code}: {self._snippet(err.response.text)}"
                transient = err.status_code in _TRANSIENT_STATUS
            else:
                try:
                    resp = raw.parse()
                except ValueError:
                    raise self._error(f"answered invalid JSON: {self._snippet(raw.http_response.text)}") from None
                if not resp.choices:
                    raise self._error(f"answered without choices: {self._snippet(raw.http_response.text)}")
                return resp
            if not transient or attempt == self.max_retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise self._error(problem + tries) from None
            delay = self.retry_backoff * 2 ** attempt
            tqdm.write(f"openai backend: server {self.base_url} {problem}; retry {attempt + 1} of "
                       f"{self.max_retries} in {delay:g} s", file=sys.stderr)  # above any progress bar
            time.sleep(delay)

    def _snippet(self, text: str) -> str:
        text = " ".join((text or "").split())
        if len(self.api_key) >= 8:  # a server may echo what it was sent
            text = text.replace(self.api_key, "***")
        return repr(text[:120] + ("..." if len(text) > 120 else "")) if text else "an empty body"

    def _error(self, problem: str) -> BackendError:
        return BackendError(f"openai backend: server {self.base_url} {problem}")

    def _map(self, fn, items: list) -> list:
        pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency))
        try:
            return list(pool.map(fn, range(len(items)), items))
        finally:  # after a failure, do not send the requests still queued
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _completions(resp, texts: list[str]) -> list[Completion]:
        usage = resp.usage
        per_choice = (usage.completion_tokens // max(1, len(resp.choices))) if usage else 0
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
        # a missing finish_reason stays None (unknown): it may have been cut at max_tokens
        return [Completion(text, c.finish_reason or None, usage.prompt_tokens if usage else 0, per_choice, cached)
                for c, text in zip(resp.choices, texts)]

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        def one(i: int, prompt: str) -> list[Completion]:
            resp = self._request(self.client.completions, prompt=prompt, **self._request_args(params, i))
            resp.choices.sort(key=lambda c: c.index or 0)
            return self._completions(resp, [c.text or "" for c in resp.choices])
        return self._map(one, prompts)

    def _chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        def one(i: int, messages: Messages) -> list[Completion]:
            resp = self._request(self.client.chat.completions, messages=messages, **self._request_args(params, i))
            resp.choices.sort(key=lambda c: c.index or 0)
            return self._completions(resp, [(c.message.content if c.message else None) or "" for c in resp.choices])
        return self._map(one, conversations)

    def close(self) -> None:
        self.client.close()
