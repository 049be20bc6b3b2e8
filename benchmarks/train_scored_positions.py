"""LoRA training speed on CPU when the output layer projects every position vs only the positions that carry a
label (datagen.train.scored_positions), on classification-style data: long instructions, one-word answers, loss on
the answers only, packed, as in pipelines/instruct-base-cpu.yaml.

    python benchmarks/train_scored_positions.py [--model gemma3-270m] [--steps 3] [--save]

Both rows train the same steps on the same batches from the same start; the model is prepared (dequantized) once
before the clock starts. Tokens/s counts the real tokens TRL reports (no padding).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datagen.records import Provenance, make_record  # noqa: E402
from save import saved  # noqa: E402  (benchmarks/save.py)

WORDS = ("the film was a great deal of fun and yet its plot felt thin while the actors tried hard to carry "
         "scenes that never quite land").split()


def records(n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    prov = Provenance(generator="benchmark")
    return [make_record("Review: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
                        + "\nIs this review positive or negative?", rng.choice(["positive", "negative"]), prov)
            for _ in range(n)]


def run(model: str, steps: int, compact: bool, out: Path) -> dict:
    import torch

    from datagen.train.params import TrainParams
    from datagen.train.scored_positions import score_labelled_positions_on_cpu
    from datagen.train.trainer import build_trainer

    p = TrainParams(model=model, prompt_style="alpaca", method="lora", per_device_train_batch_size=8,
                    max_length=256, packing=True, validation_share=0, seed=1, max_steps=steps, logging_steps=1)
    torch.manual_seed(0)
    trainer, _, _ = build_trainer(p, records(8 * steps * 4), [], out)
    score_labelled_positions_on_cpu(compact)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    history = trainer.state.log_history
    tokens = max(h.get("num_tokens", 0) for h in history)
    losses = [round(h["loss"], 4) for h in history if "loss" in h]
    return {"seconds": seconds, "tokens": tokens, "losses": losses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = ap.parse_args()
    with saved("train_scored_positions", args.save):
        import torch

        from datagen.train.model import resolve_model

        resolve_model(args.model)  # dequantize once, outside the clock
        print(f"model {args.model}, LoRA r 16, {args.steps} steps of 8 packed rows x 256 tokens, "
              f"torch threads {torch.get_num_threads()}\n")
        print("| output layer projects | seconds | tokens | tokens/s | loss per step |")
        print("|---|---|---|---|---|")
        rows = {}
        for compact, label in ((False, "every position"), (True, "labelled positions only")):
            with tempfile.TemporaryDirectory() as out:
                r = rows[compact] = run(args.model, args.steps, compact, Path(out))
            print(f"| {label} | {r['seconds']:.1f} | {r['tokens']:.0f} | {r['tokens'] / r['seconds']:.1f} "
                  f"| {', '.join(map(str, r['losses']))} |")
        print(f"\nspeed-up {rows[False]['seconds'] / rows[True]['seconds']:.2f}")


if __name__ == "__main__":
    main()
