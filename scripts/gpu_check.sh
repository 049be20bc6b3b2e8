#!/usr/bin/env bash
# One short check on a CUDA machine, installing nothing: the transformers backend generating batched on the GPU,
# then a LoRA training step through datagen's trainer, both on a small Llama-style model built from a config
# (random weights, the embedded model's tokenizer; no download). Prints tokens/s and peak GPU memory.
#   bash scripts/gpu_check.sh            (PYTHON=/path/to/python to use another interpreter; default .venv)
# Exits 2 with a one-line message where torch sees no CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" - <<'PY'
import sys
import tempfile
import time
from pathlib import Path

import torch

if not torch.cuda.is_available():
    print(f"gpu_check: no CUDA device visible to torch {torch.__version__} (CUDA build: {torch.version.cuda}); "
          "run this on a GPU machine", file=sys.stderr)
    sys.exit(2)

from transformers import AutoModelForCausalLM, LlamaConfig

from datagen.backends import SamplingParams, build_backend
from datagen.records import Provenance, make_record
from datagen.train.params import TrainParams
from datagen.train.model import embedded_tokenizer
from datagen.train.trainer import train_records

print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
tokenizer = embedded_tokenizer()
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                     num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=1024,
                     tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                     eos_token_id=tokenizer.eos_token_id)
model_dir = work / "model"
AutoModelForCausalLM.from_config(config).save_pretrained(model_dir)
tokenizer.save_pretrained(model_dir)

# generation: 128 prompts in batches of 32, 64 new tokens each (random weights rarely stop early)
backend = build_backend({"type": "transformers", "model": str(model_dir), "batch_size": 32})
assert backend.device.startswith("cuda"), backend.device
prompts = [f"Write one short question about topic number {i}." for i in range(128)]
params = SamplingParams(temperature=0.0, max_tokens=64)
backend.complete(prompts[:32], params)  # warm-up: CUDA kernels, allocator
torch.cuda.synchronize()
torch.cuda.reset_peak_memory_stats()
before = backend.usage.completion_tokens
start = time.perf_counter()
backend.complete(prompts, params)
torch.cuda.synchronize()
seconds = time.perf_counter() - start
tokens = backend.usage.completion_tokens - before
print(f"generate: {len(prompts)} prompts, {tokens} completion tokens in {seconds:.2f} s = {tokens / seconds:.0f} "
      f"tokens/s; peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
backend.close()
torch.cuda.empty_cache()

# training: LoRA through datagen's trainer (TRL SFTTrainer, bf16 on CUDA), one epoch of 64 records in 4 steps
torch.cuda.reset_peak_memory_stats()
records = [make_record(f"Say word number {i}.", f"Word {i}.", Provenance(generator="gpu_check")) for i in range(64)]
summary = train_records(TrainParams(model=str(model_dir), method="lora", num_train_epochs=1.0,
                                    per_device_train_batch_size=16,
                                    validation_share=0.0, merge=False), records, work / "train", log=lambda *_: None)
print(f"train (LoRA): {summary['steps']} steps in {summary['seconds']} s = {summary['train_tokens_per_s']} "
      f"tokens/s, loss {summary['train_loss']}; peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
print("gpu_check: ok")
PY
