"""The `train` block of a pipeline (and the options of `datagen train`), with its defaults."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from datagen.stages import StageParams


class TrainParams(StageParams):
    model: str = Field("embedded", description="hub id or local folder; 'embedded' = the shipped SmolLM2-135M")
    data: str | None = Field(None, description="train on this file / dataset folder instead of the run's records")
    data_format: str | None = Field(None, description="alpaca, sharegpt, messages, prompt_completion (auto)")
    method: Literal["lora", "qlora", "full"] = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    prompt_style: Literal["chat", "alpaca"] = Field(
        "chat", description="chat: the tokenizer's chat template (Alpaca when it has none); alpaca: '### Instruction:'"
                            " / '### Response:' blocks, for base models")
    chat_template: str | None = Field(None, description="override the tokenizer's template (Jinja)")
    train_on_all: bool = Field(False, description="loss on every token, not only the assistant turns")
    packing: bool = False
    max_length: int = 512
    too_long: Literal["drop", "truncate"] = Field(
        "drop", description="an example longer than max_length: drop it, or cut it (it loses its end of turn)")
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.0
    validation_share: float = Field(0.1, ge=0.0, lt=1.0)
    holdout_task_types: list[str] = Field(default_factory=list,
                                          description="task types left out of training, scored by evaluate")
    seed: int = 0
    logging_steps: int = 1
    merge: bool = Field(True, description="also save base + adapter merged into one model")
    threads: int | None = Field(None, description="torch CPU threads")
    ablations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="NAME: {setting: value, ...}: also train a variant with these settings "
                                          "changed (same data split), under train/ablations/NAME; evaluate scores it")

    @field_validator("ablations")
    @classmethod
    def _known_settings(cls, ablations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, changes in ablations.items():
            unknown = sorted(set(changes) - set(cls.model_fields) | set(changes) & {"ablations", "data",
                                                                                     "holdout_task_types", "seed"})
            if unknown:
                raise ValueError(f"ablation {name!r}: settings {unknown} cannot vary (unknown, or they would change "
                                 f"the data split)")
        return ablations
