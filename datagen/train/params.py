"""The `train` block of a pipeline (and the options of `datagen train`), with its defaults.

Names follow TRL's SFTConfig / ModelConfig and PEFT's LoraConfig where a setting means the same thing there
(num_train_epochs, per_device_train_batch_size, lora_r, assistant_only_loss ...). Keys renamed since still load,
with a DeprecationWarning: see RENAMED."""
from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from datagen.stages import StageParams

# old key -> current name; existing pipelines keep working
RENAMED = {"epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
           "grad_accum": "gradient_accumulation_steps", "target_modules": "lora_target_modules"}
# old key -> current name, where the old key said the opposite (train_on_all: true = assistant_only_loss: false)
NEGATED = {"train_on_all": "assistant_only_loss"}


def current_names(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with renamed keys under their current names. Where both names are given the current one wins
    (a command-line flag over the run's own block)."""
    out = {}
    for key, value in settings.items():
        new = RENAMED.get(key) or NEGATED.get(key)
        if new is None:
            out[key] = value
            continue
        warnings.warn(f"train.{key} is deprecated; use {new}", DeprecationWarning, stacklevel=3)
        if key in NEGATED:
            if not isinstance(value, bool):
                raise ValueError(f"{key}: must be true or false")
            value = not value
        if new not in settings:
            out[new] = value
    return out


class TrainParams(StageParams):
    model: str = Field("embedded", description="the model to fine-tune: a hub id, a local folder, a .gguf file, "
                                               "'embedded' (the shipped SmolLM2-135M) or 'gemma3-270m'")
    data: str | None = Field(None, description="a file or dataset folder to train on; none trains on the run's "
                                               "kept records")
    data_format: str | None = Field(None, description="the layout of `data` (alpaca, sharegpt, messages, "
                                                      "prompt_completion); none detects it from the first row")
    method: Literal["lora", "qlora", "full"] = Field(
        "lora", description="lora trains a low-rank adapter, qlora the same on a 4-bit base model (CUDA and "
                            "bitsandbytes), full every weight")
    lora_r: int = Field(16, description="the rank of the LoRA update matrices; higher trains more parameters")
    lora_alpha: int = Field(32, description="the LoRA scaling factor: updates are scaled by lora_alpha / lora_r")
    lora_dropout: float = Field(0.05, description="the dropout probability on the LoRA layers' input")
    lora_target_modules: str | list[str] = Field(
        "all-linear", description="the modules that get LoRA adapters: names, or 'all-linear' for every linear "
                                  "layer except the output head")
    prompt_style: Literal["chat", "alpaca"] = Field(
        "chat", description="chat: the tokenizer's chat template (Alpaca when it has none); alpaca: '### Instruction:'"
                            " / '### Response:' blocks, for base models")
    chat_template: str | None = Field(None, description="a Jinja chat template to use instead of the tokenizer's; "
                                                        "none keeps the tokenizer's")
    assistant_only_loss: bool = Field(True, description="compute the loss only on the assistant turns (and the "
                                                        "token that ends each); false trains on every token")
    packing: bool = Field(False, description="pack several examples into each max_length row (TRL's bfd "
                                             "strategy, padding-free) instead of padding each one")
    max_length: int = Field(512, description="the longest tokenized example, in tokens; see too_long")
    too_long: Literal["drop", "truncate"] = Field(
        "drop", description="an example longer than max_length: drop it, or cut it (it loses its end of turn)")
    num_train_epochs: float = Field(3.0, description="passes over the training data; a fraction stops part-way "
                                                     "through the last one")
    max_steps: int = Field(-1, description="stop after this many optimizer steps, overriding num_train_epochs; "
                                           "-1 trains for num_train_epochs")
    learning_rate: float = Field(2e-4, description="the initial AdamW learning rate (2e-4 suits LoRA; full "
                                                   "fine-tuning wants about ten times less)")
    per_device_train_batch_size: int = Field(8, description="examples per batch on each device (also used for "
                                                            "the validation batches)")
    gradient_accumulation_steps: int = Field(1, description="batches whose gradients are summed before each "
                                                            "optimizer step; 1 steps after every batch")
    warmup_ratio: float = Field(0.0, description="the share of training steps over which the learning rate rises "
                                                 "linearly from 0; 0 starts at full rate")
    validation_share: float = Field(0.1, ge=0.0, lt=1.0, description="the share of records kept out of training "
                                                                     "to measure validation loss each epoch")
    holdout_task_types: list[str] = Field(default_factory=list,
                                          description="task types left out of training, scored by evaluate")
    seed: int = Field(0, description="the seed of the data split, shuffling and initialization")
    logging_steps: int = Field(1, description="log the training loss every this many steps")
    merge: bool = Field(True, description="also save base + adapter merged into one model")
    threads: int | None = Field(None, description="torch CPU threads; none keeps torch's default")
    ablations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="NAME: {setting: value, ...}: also train a variant with these settings "
                                          "changed (same data split), under train/ablations/NAME; evaluate scores it")

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        return current_names(data) if isinstance(data, dict) else data

    @field_validator("ablations")
    @classmethod
    def _known_settings(cls, ablations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, changes in ablations.items():
            names = set(current_names(changes))
            unknown = sorted(names - set(cls.model_fields) | names & {"ablations", "data", "holdout_task_types",
                                                                       "seed"})
            if unknown:
                raise ValueError(f"ablation {name!r}: settings {unknown} cannot vary (unknown, or they would change "
                                 f"the data split)")
        return ablations
