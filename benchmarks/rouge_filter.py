"""The Self-Instruct ROUGE-L pool filter on N synthetic instructions: rapidfuzz pool vs a reference-style loop.

Each instruction, in order, is kept if its ROUGE-L F1 against every instruction kept before it is <= 0.7.
The fast pool runs on all N; the pure-Python LCS loop runs on the first `--sample` instructions and its time is
extrapolated to N by the number of comparisons (quadratic). Decisions on the sample must be identical.

    python benchmarks/rouge_filter.py [--n 20000] [--sample 1000]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's datagen, run from anywhere
from datagen.rouge import RougePool, rouge_l_reference
from save import saved  # benchmarks/save.py

VERBS = ["Write", "Explain", "Describe", "List", "Summarize", "Classify", "Suggest", "Compare", "Translate",
         "Rewrite", "Give", "Create", "Plan", "Identify", "Find", "Generate", "Outline", "Evaluate", "Convert"]
OBJECTS = ["a short poem", "three tips", "a recipe", "the main idea", "a polite email", "a study plan",
           "the differences", "five reasons", "a product description", "a haiku", "a quiz question",
           "the key steps", "a weekly budget", "a cover letter", "a riddle", "the sentiment", "a short story",
           "two examples", "a catchy slogan", "a packing list", "the pros and cons", "a simple definition"]
TOPICS = ["climate change", "a rainy afternoon", "learning a new language", "saving money", "healthy breakfast",
          "the French revolution", "a job interview", "photosynthesis", "remote work", "a birthday party",
          "electric cars", "the solar system", "time management", "a small bakery", "ancient Rome",
          "machine learning", "a camping trip", "public transport", "ocean pollution", "a chess opening",
          "a customer complaint", "volcanoes", "the stock market", "friendship", "a city marathon"]
AUDIENCES = ["for a ten-year-old", "for a busy parent", "in under fifty words", "for a beginner",
             "using simple language", "in a formal tone", "as a bullet list", "for a university student",
             "with one concrete example", "in the style of a news headline", "for a team meeting", ""]
EXTRAS = ["", "", "Keep it short.", "Be specific.", "Explain your reasoning.", "Avoid jargon.",
          "Mention at least one number.", "End with a question."]


def instructions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(VERBS), rng.choice(OBJECTS), "about", rng.choice(TOPICS), rng.choice(AUDIENCES)]
        text = " ".join(p for p in parts if p) + "."
        extra = rng.choice(EXTRAS)
        out.append(f"{text} {extra}".strip())
    return out


def reference_loop(texts: list[str], threshold: float = 0.7) -> tuple[list[bool], int]:
    """What the reference does: score every candidate against every kept instruction in pure Python."""
    kept, decisions, comparisons = [], [], 0
    for text in texts:
        best = max((rouge_l_reference(text, k) for k in kept), default=0.0)
        comparisons += len(kept)
        decisions.append(best <= threshold)
        if best <= threshold:
            kept.append(text)
    return decisions, comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("rouge_filter", args.save):
        texts = instructions(args.n)

        t0 = time.perf_counter()
        full = RougePool(threshold=args.threshold).admit(texts)
        fast_s = time.perf_counter() - t0
        kept_full = sum(keep for keep, _, _ in full)
        kept_running, comparisons_full = 0, 0
        for keep, _, _ in full:
            comparisons_full += kept_running
            kept_running += keep

        sample = texts[:args.sample]
        t0 = time.perf_counter()
        ref_decisions, ref_comparisons = reference_loop(sample, args.threshold)
        ref_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast_sample = [keep for keep, _, _ in RougePool(threshold=args.threshold).admit(sample)]
        fast_sample_s = time.perf_counter() - t0
        ref_full_s = ref_s / max(ref_comparisons, 1) * comparisons_full

        identical = fast_sample == ref_decisions
        rows = [
            ("instructions", f"{args.n:,}", f"{args.sample:,} (measured)"),
            ("kept by the filter", f"{kept_full:,}", f"{sum(ref_decisions):,}"),
            ("pairwise comparisons", f"{comparisons_full:,}", f"{ref_comparisons:,}"),
            ("rapidfuzz pool (s)", f"{fast_s:.2f}", f"{fast_sample_s:.3f}"),
            ("pure-Python LCS loop (s)", f"{ref_full_s:.0f} (extrapolated)", f"{ref_s:.2f}"),
            ("speed-up", f"{ref_full_s / fast_s:.0f}x", f"{ref_s / fast_sample_s:.0f}x"),
            ("decisions identical on sample", "", "yes" if identical else "NO"),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"ROUGE-L pool filter, threshold {args.threshold}")
        print(f"{'':<{width}} | {'full run':>24} | {'sample':>24}")
        print("-" * (width + 54))
        for name, full_value, sample_value in rows:
            print(f"{name:<{width}} | {full_value:>24} | {sample_value:>24}")
        if not identical:
            raise SystemExit("decisions differ between the rapidfuzz pool and the reference loop")


if __name__ == "__main__":
    main()
