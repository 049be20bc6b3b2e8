"""vLLM's offline engine for GPU batch jobs: whole batches go to one `generate` call and continuous batching
does the rest; prefix caching is on, so a shared prompt head (Magpie's pre-query text) is computed once.
Needs the optional extra: pip install 'datagen[vllm]'.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from datagen.backends.base import Completion, MissingExtra, SamplingParams
from datagen.backends.tokenized import TokenizerBackend

if TYPE_CHECKING:
    from datagen.config import BackendConfig


def to_vllm_params(params: SamplingParams, index: int):
    """Our SamplingParams for input `index` of a call, as vLLM's (one seed per request)."""
    from vllm import SamplingParams as VllmSamplingParams

    return VllmSamplingParams(
        **_structured_outputs(params),
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        stop=list(params.stop) or None,
        seed=params.seed_for(index),
        repetition_penalty=params.repetition_penalty,
        presence_penalty=params.presence_penalty,
    )


def _structured_outputs(params: SamplingParams) -> dict:
    """vLLM's JSON-schema constraint: `structured_outputs` since 0.10.2, `guided_decoding` before."""
    if params.json_schema is None:
        return {}
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=params.json_schema)}
    return {"structured_outputs": StructuredOutputsParams(json=params.json_schema)}


class VllmBackend(TokenizerBackend):
    name = "vllm"

    @classmethod
    def gpus_per_actor(cls, config: BackendConfig) -> float:
        """An engine split over t GPUs (tensor parallelism) holds t of them; the default t is the constructor's."""
        default = inspect.signature(cls.__init__).parameters["tensor_parallel_size"].default
        return float(config.options.get("tensor_parallel_size", default))

    def __init__(self, model: str, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, dtype: str = "auto", enable_prefix_caching: bool = True,
                 chat_template: str | None = None, seed: int = 0, trust_remote_code: bool = False) -> None:
        try:
            from vllm import LLM
        except ImportError as err:
            raise MissingExtra("vllm", "vllm", "vllm") from err
        super().__init__(model)
        self.llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                       enable_prefix_caching=enable_prefix_caching, trust_remote_code=trust_remote_code)
        self.tokenizer = self.llm.get_tokenizer()
        self.template = chat_template or self.tokenizer.chat_template

    def _complete(self, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        from vllm.inputs import TokensPrompt

        bos = self.tokenizer.bos_token or ""
        # encode ourselves so a rendered chat prompt that already holds BOS does not get a second one
        inputs = [TokensPrompt(prompt_token_ids=self.tokenizer(p, add_special_tokens=not (bos and p.startswith(bos)))
                               ["input_ids"]) for p in prompts]
        outputs = self.llm.generate(inputs, [to_vllm_params(params, i) for i in range(len(prompts))], use_tqdm=False)
        return [
            [Completion(o.text, o.finish_reason or None, len(req.prompt_token_ids), len(o.token_ids),
                        getattr(req, "num_cached_tokens", None) or 0)  # prefix-cache hits, where vLLM reports them
             for o in req.outputs]
            for req in outputs
        ]

    def close(self) -> None:
        self.llm = None
