"""Any OpenAI-compatible HTTP server: vLLM serve, SGLang, TGI, llama.cpp's server, or a hosted API.

Raw completion uses /v1/completions (Magpie, Self-Instruct and Bonito need it); chat uses /v1/chat/completions.
Requests run `concurrency` at a time. The server owns the chat template, so `render_chat` needs the template
given in the config (a Jinja string, a file path, or a known family name such as chatml or llama3).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from datagen.backends.base import Backend, Completion, Messages, SamplingParams
from datagen.backends.chat_template import load_template, render_template


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 600.0, chat_template: str | None = None,
                 bos_token: str = "", eos_token: str = "", max_retries: int = 2,
                 send_repetition_penalty: bool | None = None,
                 schema_format: Literal["json_schema", "json_object"] = "json_schema") -> None:
        from openai import OpenAI

        super().__init__(model)
        self.client = OpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY", "none"),
                             timeout=timeout, max_retries=max_retries)
        self.base_url = base_url
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

    def _map(self, fn, items: list) -> list:
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(fn, range(len(items)), items))

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        def one(i: int, prompt: str) -> list[Completion]:
            resp = self.client.completions.create(prompt=prompt, **self._request_args(params, i))
            usage = resp.usage
            return [Completion(c.text, c.finish_reason or "stop", usage.prompt_tokens if usage else 0,
                               (usage.completion_tokens // max(1, len(resp.choices))) if usage else 0)
                    for c in sorted(resp.choices, key=lambda c: c.index)]
        return self._map(one, prompts)

    def _chat(self, conversations: list[Messages], params: SamplingParams) -> list[list[Completion]]:
        def one(i: int, messages: Messages) -> list[Completion]:
            resp = self.client.chat.completions.create(messages=messages, **self._request_args(params, i))
            usage = resp.usage
            return [Completion(c.message.content or "", c.finish_reason or "stop",
                               usage.prompt_tokens if usage else 0,
                               (usage.completion_tokens // max(1, len(resp.choices))) if usage else 0)
                    for c in sorted(resp.choices, key=lambda c: c.index)]
        return self._map(one, conversations)

    def close(self) -> None:
        self.client.close()
