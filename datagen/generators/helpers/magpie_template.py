"""Magpie's pre-query template: the chat-template text that comes right before a user's words.

An aligned model given only this prefix writes a plausible user query itself. We never hard-code it: we render a
conversation whose next user turn is a sentinel through the model's own chat template and cut before the
sentinel, so it works for any model whose template we can render. KNOWN_FAMILIES holds what the prefix should be
for well-known families, to check a rendering and to override it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from datagen.backends.chat_template import FAMILY_TEMPLATES, render_template

SENTINEL = "\u2063MAGPIE_QUERY_SENTINEL\u2063"
Render = Callable[[list[dict[str, str]], bool], str]


@dataclass(frozen=True)
class Family:
    """A chat-template family: which template renders it, its special tokens, and its expected pre-query."""

    template: str  # key of FAMILY_TEMPLATES
    pre_query: str  # expected prefix of a first user turn without a system prompt
    bos: str = ""
    eos: str = ""
    system_supported: bool = True

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if not self.system_supported and any(m["role"] == "system" for m in messages):
            raise ValueError(f"the {self.template} chat template has no system role")  # as the real one refuses
        return render_template(FAMILY_TEMPLATES[self.template], messages, add_generation_prompt, self.bos, self.eos)


KNOWN_FAMILIES: dict[str, Family] = {
    "llama3": Family("llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
                     bos="<|begin_of_text|>", eos="<|eot_id|>"),
    "qwen2": Family("qwen2", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
                    eos="<|im_end|>"),
    "qwen2.5": Family("qwen2.5", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                                 "assistant.<|im_end|>\n<|im_start|>user\n", eos="<|im_end|>"),
    "chatml": Family("chatml", "<|im_start|>user\n", eos="<|im_end|>"),
    "smollm2": Family("smollm2", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                                 "Hugging Face<|im_end|>\n<|im_start|>user\n", eos="<|im_end|>"),
    # Phi-3's tokenizer adds <s> itself when it encodes the prompt; its template text starts at <|user|>
    "phi3": Family("phi3", "<|user|>\n", eos="<|endoftext|>"),
    "gemma": Family("gemma", "<bos><start_of_turn>user\n", bos="<bos>", eos="<eos>", system_supported=False),
    "mistral": Family("mistral", "<s>[INST] ", bos="<s>", eos="</s>", system_supported=False),
}


def family_render(name: str) -> Render:
    if name not in KNOWN_FAMILIES:
        raise ValueError(f"unknown chat-template family {name!r}; known: auto, {', '.join(KNOWN_FAMILIES)}")
    return KNOWN_FAMILIES[name].render


def prefix_before_user(render: Render, history: list[dict[str, str]], system: str | None = None) -> str:
    """The rendered text of `system` + `history` + the opening of a new user turn, up to where its words go.

    Templates that refuse a system role (Gemma, Mistral) get the system text at the head of the first user turn,
    which is what those families' newer templates do themselves.
    """
    head = [{"role": "system", "content": system}] if system else []
    messages = head + list(history) + [{"role": "user", "content": SENTINEL}]
    try:
        text = render(messages, False)
    except ValueError:
        if not system:
            raise
        text = None
    if text is None or SENTINEL not in text or (system and system not in text):
        # the template refused or dropped the system turn: fold it into the first user turn
        if history:
            history = [{**history[0], "content": f"{system}\n\n{history[0]['content']}"}, *history[1:]]
            messages = list(history) + [{"role": "user", "content": SENTINEL}]
        else:
            messages = [{"role": "user", "content": f"{system}\n\n{SENTINEL}"}]
        text = render(messages, False)
    if SENTINEL not in text:
        raise ValueError("the chat template did not place the user's text in its output; cannot derive a "
                         "pre-query template (set `template` to a known family)")
    return text[:text.index(SENTINEL)]


def detect_family(render: Render) -> str | None:
    """The known family whose pre-query equals this template's (without a system prompt), if any."""
    pre_query = prefix_before_user(render, [])
    return next((name for name, fam in KNOWN_FAMILIES.items() if fam.pre_query == pre_query), None)


def pre_query_renderer(backend_render: Render, template: str) -> Render:
    """`auto` -> the backend's own template; a family name -> that family's template (an override)."""
    return backend_render if template == "auto" else family_render(template)


__all__ = ["KNOWN_FAMILIES", "SENTINEL", "Family", "detect_family", "family_render",
           "pre_query_renderer", "prefix_before_user"]
