"""Near-dedup benchmark: 50,000 generated-like instructions with planted near-duplicates.

Builds instructions from templates and word lists (no downloads), plants near-duplicates by word swaps,
insertions, deletions and replacements (word n-gram Jaccard
similarity 0.75 to 0.9 to the original), runs the dedup_near filter and reports
records/s, precision and recall against the planted truth, and the time the exact ROUGE-L pairwise filter
(rapidfuzz Indel on token lists == ROUGE-L F1) would take on the same data, measured on a sample and extrapolated.

    python benchmarks/near_dedup.py [--records 50000] [--dup-share 0.1]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's datagen

from datagen.filters.base import FilterContext
from datagen.filters.dedup_near import DedupNear
from datagen.filters.text import ngrams, normalize_fuzzy
from datagen.records import Provenance, make_record
from save import saved  # benchmarks/save.py

VERBS = ["Write", "Draft", "Compose", "Create", "Prepare", "Outline", "Explain", "Describe", "Summarize", "Design",
         "Plan", "Suggest", "Compare", "Review", "List", "Propose", "Sketch", "Develop", "Evaluate", "Rewrite"]
THINGS = ["a short guide", "a detailed plan", "a friendly email", "a product description", "a lesson outline",
          "a blog post", "a checklist", "a cover letter", "a short story", "a poem", "a speech", "a recipe",
          "a study schedule", "a budget", "a workout routine", "a press release", "a FAQ section", "a tweet thread",
          "a user manual", "a meeting agenda", "a comparison table", "a quiz", "a travel itinerary", "a haiku"]
TOPICS = ["renewable energy", "urban gardening", "machine learning", "ancient Rome", "personal finance",
          "ocean currents", "sourdough baking", "remote work", "chess openings", "climate policy", "jazz history",
          "bird migration", "quantum computing", "public speaking", "volcano safety", "electric cars",
          "medieval castles", "healthy sleep", "space exploration", "coral reefs", "board games", "photography",
          "coffee brewing", "first aid", "time management", "recycling", "mountain hiking", "web security",
          "the water cycle", "early childhood reading", "team leadership", "marathon training", "tax filing",
          "home insulation", "language learning", "bee keeping", "3D printing", "podcasting", "wine making",
          "volunteer work", "city cycling", "data privacy", "solar panels", "dog training", "knitting",
          "astronomy for kids", "stock markets", "fermentation", "bridge engineering", "desert ecology"]
ADJECTIVES = ["curious", "busy", "retired", "young", "skeptical", "experienced", "nervous", "ambitious", "tired",
              "cheerful", "practical", "creative", "cautious", "impatient", "thoughtful", "distracted"]
AUDIENCES = ["high school students", "new parents", "small business owners", "software engineers", "nurses",
             "farmers", "tourists", "teachers", "city council members", "college freshmen", "artists",
             "truck drivers", "librarians", "chefs", "retirees", "journalists", "scientists", "gamers"]
CONSTRAINTS = ["in under two hundred words", "using simple language", "with three concrete examples",
               "in a humorous tone", "as a numbered list", "with a short summary at the end", "in a formal style",
               "without technical jargon", "including one surprising fact", "in the form of a dialogue",
               "with a catchy title", "that fits on one page", "with tips for beginners", "in five bullet points",
               "ending with a question", "with a clear call to action"]
EXTRAS = ["mention common mistakes to avoid", "explain why it matters today", "add a short historical note",
          "include a quick self check", "suggest one book for further reading", "keep each sentence short",
          "compare two popular approaches", "give a realistic weekly timeline", "point out the main costs",
          "highlight safety considerations", "describe a typical day", "add a memorable analogy"]
FILLER = ["really", "also", "please", "very", "clearly", "carefully", "briefly", "overall", "perhaps", "simply"]


def make_instruction(rng: random.Random) -> str:
    first, second = rng.sample(TOPICS, 2)
    return (f"{rng.choice(VERBS)} {rng.choice(THINGS)} about {first} for {rng.choice(ADJECTIVES)} "
            f"{rng.choice(AUDIENCES)} {rng.choice(CONSTRAINTS)}. Also {rng.choice(EXTRAS)}, and relate it to "
            f"{second} {rng.choice(CONSTRAINTS)}.")


def edit(text: str, rng: random.Random) -> str:
    """One edit: swap two neighbours, insert a word, delete a word, or replace a word."""
    tokens = text.split()
    i = rng.randrange(1, len(tokens) - 1)
    kind = rng.choice(["swap", "insert", "delete", "replace"])
    if kind == "swap":
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    elif kind == "insert":
        tokens.insert(i, rng.choice(FILLER))
    elif kind == "delete":
        del tokens[i]
    else:
        tokens[i] = rng.choice(FILLER)
    return " ".join(tokens)


def perturb(text: str, rng: random.Random, n: int, low: float = 0.75, high: float = 0.9) -> str | None:
    """Edits until the n-gram Jaccard similarity to `text` falls below `high`; None if it overshoots `low`."""
    copy = text
    while jaccard(copy, text, n) >= high:
        copy = edit(copy, rng)
    return copy if jaccard(copy, text, n) >= low else None


def jaccard(a: str, b: str, n: int) -> float:
    sa, sb = set(ngrams(normalize_fuzzy(a).split(), n)), set(ngrams(normalize_fuzzy(b).split(), n))
    return len(sa & sb) / max(len(sa | sb), 1)


def build(count: int, dup_share: float, seed: int, n: int = 2) -> tuple[list[str], dict[int, int]]:
    """Texts and the planted truth {index of a near-duplicate: index of its original}."""
    rng = random.Random(seed)
    texts, seen, truth = [], set(), {}
    while len(texts) < count:
        if texts and rng.random() < dup_share:
            original = rng.randrange(len(texts))
            while original in truth:  # plant against an original, not against another copy
                original = rng.randrange(len(texts))
            copy = perturb(texts[original], rng, n)
            if copy is None or copy in seen:
                continue
            truth[len(texts)] = original
            texts.append(copy)
        else:
            text = make_instruction(rng)
            if text in seen:
                continue
            texts.append(text)
        seen.add(texts[-1])
    return texts, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--dup-share", type=float, default=0.1)
    parser.add_argument("--ngram", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rouge-sample", type=int, default=2000, help="rows of the pairwise ROUGE-L matrix timed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true", help="also save the output in benchmarks/results/")
    args = parser.parse_args()
    with saved("near_dedup", args.save):

        texts, truth = build(args.records, args.dup_share, args.seed, args.ngram)
        planted_j = np.array([jaccard(texts[d], texts[o], args.ngram) for d, o in truth.items()])
        prov = Provenance(generator="benchmark")
        records = [make_record(t, "ok", prov, id=f"r{i}") for i, t in enumerate(texts)]

        dedup = DedupNear(DedupNear.Params(ngram=args.ngram, threshold=args.threshold,
                                           num_perm=args.num_perm), FilterContext("dedup_near"))
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(records), args.batch):
            dedup.apply(records[i:i + args.batch])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu

        flagged = {int(r.id[1:]) for r in records if not r.verdicts[-1].keep}
        # a flag is right when the record is a planted copy (whichever cluster member it was matched to)
        true_pos = len(flagged & truth.keys())
        precision = true_pos / max(len(flagged), 1)
        recall = true_pos / max(len(truth), 1)

        # exact ROUGE-L filter: each instruction against all earlier ones (Self-Instruct), n^2 / 2 pairs
        from rapidfuzz.distance import Indel
        from rapidfuzz.process import cdist

        tokens = [normalize_fuzzy(t).split() for t in texts]
        sample = tokens[:args.rouge_sample]
        t0 = time.perf_counter()
        cdist(sample, tokens, scorer=Indel.normalized_similarity, dtype=np.float32, workers=-1)
        rouge_rows = time.perf_counter() - t0
        rouge_total = rouge_rows / len(sample) * len(tokens) / 2  # each row is compared with earlier rows only

        print(f"records: {len(texts)}  planted near-duplicates: {len(truth)}  "
              f"planted {args.ngram}-gram Jaccard: median {np.median(planted_j):.2f}, min {planted_j.min():.2f}, "
              f"max {planted_j.max():.2f}")
        print(f"dedup_near: ngram {dedup.params.ngram}, num_perm {args.num_perm}, threshold {args.threshold}, "
              f"bands x rows {dedup.index.bands} x {dedup.index.rows}\n")
        print("| method | wall s | records/s (wall) | CPU s | flagged | precision | recall |")
        print("|---|---|---|---|---|---|---|")
        print(f"| MinHash LSH (dedup_near) | {seconds:.2f} | {len(texts) / seconds:,.0f} | {cpu:.2f} | "
              f"{len(flagged)} | "
              f"{precision:.4f} | {recall:.4f} |")
        print(f"| exact ROUGE-L pairwise (rapidfuzz cdist, {len(sample)} rows timed, extrapolated) | "
              f"{rouge_total:.1f} | {len(texts) / rouge_total:,.0f} | - | - | - | - |")


if __name__ == "__main__":
    main()
