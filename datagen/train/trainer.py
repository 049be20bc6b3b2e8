"""SFT on TRL's SFTTrainer with PEFT: LoRA (default), QLoRA or full fine-tuning. Writes the run's train/ folder
(datagen.run_folder.TrainOutputs): adapter/ (LoRA), merged/ (a plain model), log.jsonl and loss.png, config.json
(the exact settings), validation.jsonl and heldout.jsonl (records never trained on, for evaluate)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from datagen.run_folder import TrainOutputs
from datagen.records import Record
from datagen.train.params import TrainParams, current_names
from datagen.train.data import build_dataset, split_records
from datagen.train.model import load_model, load_tokenizer, lora_config, resolve_model
from datagen.train.scored_positions import score_labelled_positions_on_cpu


def sft_config(p: TrainParams, out: Path, has_validation: bool) -> Any:
    import torch
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(TrainOutputs(Path(out)).checkpoints), num_train_epochs=p.num_train_epochs, max_steps=p.max_steps,
        learning_rate=p.learning_rate, per_device_train_batch_size=p.per_device_train_batch_size,
        per_device_eval_batch_size=p.per_device_train_batch_size,
        gradient_accumulation_steps=p.gradient_accumulation_steps,
        warmup_steps=p.warmup_ratio, lr_scheduler_type="linear", seed=p.seed, data_seed=p.seed,
        max_length=p.max_length, packing=p.packing, packing_strategy="bfd",
        logging_steps=p.logging_steps, save_strategy="no", report_to=[],
        eval_strategy="epoch" if has_validation else "no",
        use_cpu=not cuda, bf16=cuda, gradient_checkpointing=cuda and p.method != "lora",
        disable_tqdm=True, dataloader_num_workers=0,
    )


def build_trainer(p: TrainParams, train: list[Record], val: list[Record], out: Path) -> tuple[Any, Any, dict]:
    """(SFTTrainer, tokenizer, facts): tokenized data with assistant-only labels, the model (LoRA-wrapped unless
    full fine-tuning), and TRL's trainer over them."""
    from peft import get_peft_model
    from transformers import set_seed
    from trl import SFTTrainer

    tokenizer, added = load_tokenizer(p.model, p.chat_template, p.prompt_style)
    # SFTTrainer seeds only when it is built, after the LoRA weights and any new embedding row are drawn: seed
    # here, so they do not depend on what drew random numbers earlier in the process (a GGUF dequantized first)
    set_seed(p.seed)
    train_on_all = not p.assistant_only_loss
    train_ds, counts = build_dataset(train, tokenizer, p.max_length, train_on_all, p.too_long)
    val_ds, val_counts = build_dataset(val, tokenizer, p.max_length, train_on_all, p.too_long) if val else (None, {})
    model = load_model(p.model, tokenizer, added, p.method)
    if p.method != "full":
        model = get_peft_model(model, lora_config(p.lora_r, p.lora_alpha, p.lora_dropout, p.lora_target_modules, added))
    score_labelled_positions_on_cpu()
    trainer = SFTTrainer(model=model, args=sft_config(p, out, val_ds is not None), train_dataset=train_ds,
                         eval_dataset=val_ds, processing_class=tokenizer)
    facts = {"pad_token_added": added, "examples": {k: v + val_counts.get(k, 0) for k, v in counts.items()}}
    return trainer, tokenizer, facts


def train_records(p: TrainParams, records: list[Record], out: Path, log: Any = print) -> dict[str, Any]:
    """Train on `records` into `out` (a run's train/), then each ablation (the same split, some settings changed)
    into out/ablations/NAME; the summary of each ablation goes under "ablations"."""
    import torch

    if p.threads:
        torch.set_num_threads(p.threads)
    train, val, held = split_records(records, p.validation_share, p.holdout_task_types, p.seed)
    if not train:
        raise ValueError(f"nothing to train on: {len(records)} records, {len(held)} held out "
                         f"({', '.join(p.holdout_task_types) or 'no task types held out'})")
    folder = TrainOutputs(Path(out))
    summary = train_split(p, train, val, held, folder, log)
    if p.ablations:
        summary["ablations"] = {}
    for name, changes in p.ablations.items():
        variant = p.model_copy(update={**current_names(changes), "ablations": {}})
        log(f"train: ablation {name}: {changes}")
        summary["ablations"][name] = {"changes": changes,
                                      **train_split(variant, train, val, held, folder.ablation(name), log)}
    return summary


def train_split(p: TrainParams, train: list[Record], val: list[Record], held: list[Record], folder: TrainOutputs,
                log: Any = print) -> dict[str, Any]:
    folder.path.mkdir(parents=True, exist_ok=True)
    trainer, tokenizer, facts = build_trainer(p, train, val, folder.path)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    history = trainer.state.log_history
    # tokens seen (not padding), as TRL counts them, so packed and padded runs compare fairly
    train_tokens = max((float(h["num_tokens"]) for h in history if "num_tokens" in h), default=None)

    if p.method == "full":
        trainer.save_model(str(folder.merged))
    else:
        trainer.model.save_pretrained(str(folder.adapter))
        tokenizer.save_pretrained(str(folder.adapter))
        if p.merge and p.method == "lora":
            trainer.model.merge_and_unload().save_pretrained(str(folder.merged))
    if folder.merged.is_dir():
        tokenizer.save_pretrained(str(folder.merged))
    write_log(history, folder)
    if folder.checkpoints.is_dir() and not any(folder.checkpoints.iterdir()):
        folder.checkpoints.rmdir()  # save_strategy "no" leaves it empty
    folder.write_split(val, held)  # evaluate scores these: never trained on
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    summary = {
        "model": p.model, "resolved_model": resolve_model(p.model), "method": p.method,
        "train_records": len(train), "validation_records": len(val), "heldout_records": len(held),
        "prompt_style": p.prompt_style, "max_length": p.max_length, "too_long": p.too_long,
        "examples": facts["examples"], "pad_token": tokenizer.pad_token,
        "pad_token_added": facts["pad_token_added"],
        "steps": trainer.state.global_step, "train_loss": round(result.training_loss, 4),
        "final_eval_loss": round(evals[-1], 4) if evals else None, "seconds": round(seconds, 1),
        "train_tokens": int(train_tokens) if train_tokens else None,
        "train_tokens_per_s": round(train_tokens / seconds, 1) if train_tokens else None,
        "adapter": str(folder.adapter) if folder.adapter.is_dir() else None,
        "merged": str(folder.merged) if folder.merged.is_dir() else None,
    }
    folder.write_settings({"params": p.model_dump(), "sft_config": trainer.args.to_dict(), "summary": summary})
    log(f"train: {summary['steps']} steps, loss {summary['train_loss']}, {summary['seconds']} s -> {folder.path}")
    return summary


def write_log(history: list[dict], folder: TrainOutputs) -> None:
    folder.log.write_text("".join(json.dumps(h) + "\n" for h in history))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder.loss_plot, dpi=100)
    plt.close(fig)
