"""Training throughput with and without packing on the same data: one epoch each, same model, same batch size.

Usage: python benchmarks/train_packing.py [--model tiny|embedded] [--records 64] [--batch-size 8]
`tiny` is a randomly initialised 4-layer Llama-style model with the embedded tokenizer (fast); `embedded` is the
shipped SmolLM2-135M with LoRA (slow on CPU). Tokens/s counts real tokens only (no padding), so both rows do
the same useful work; packing wins by not computing on padding.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from datagen.records import Provenance, make_record  # noqa: E402
from save import saved  # noqa: E402  (benchmarks/save.py)

WORDS = ("the quick brown fox jumps over a lazy dog while rain falls on green hills and rivers run to the sea "
         "under bright stars").split()


def records(n: int, seed: int = 0) -> list:
    """Instructions and answers of very different lengths, as in real SFT data (4 to 200 words)."""
    rng = random.Random(seed)
    prov = Provenance(generator="benchmark")
    out = []
    for i in range(n):
        length = rng.choice([4, 8, 16, 32, 64, 120, 200])
        answer = " ".join(rng.choice(WORDS) for _ in range(length))
        out.append(make_record(f"Write {length} words, example {i}.", answer, prov))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", choices=["tiny", "embedded"])
    ap.add_argument("--records", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = ap.parse_args()
    with saved("train_packing", args.save):

        from datagen.train.params import TrainParams
        from datagen.train.trainer import build_trainer

        tmp = Path(tempfile.mkdtemp(prefix="packing-bench-"))
        if args.model == "tiny":
            from train_helpers import tiny_model_dir

            model, method = str(tiny_model_dir(tmp / "tiny", layers=4, hidden=128)), "full"
        else:
            model, method = "embedded", "lora"
        data = records(args.records)
        rows = []
        for packing in (False, True):
            p = TrainParams(model=model, method=method, packing=packing, num_train_epochs=1,
                            per_device_train_batch_size=args.batch_size,
                            max_length=args.max_length, validation_share=0.0, logging_steps=1000, threads=args.threads)
            trainer, _, facts = build_trainer(p, data, [], tmp / f"out-{packing}")
            started = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - started
            rows.append((packing, trainer.state.global_step, facts["train_tokens"], seconds))
        base = rows[0][2] / rows[0][3]
        print(f"\nmodel: {args.model} ({method}), {args.records} records, batch {args.batch_size}, "
              f"max_length {args.max_length}\n")
        print("| packing | steps | real tokens | seconds | tokens/s | speed-up |")
        print("|---|---|---|---|---|---|")
        for packing, steps, tokens, seconds in rows:
            print(f"| {'on' if packing else 'off'} | {steps} | {tokens} | {seconds:.1f} | {tokens / seconds:.0f} | "
                  f"{tokens / seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
