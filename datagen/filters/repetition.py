"""Gopher-style repetition measures (Rae et al. 2021), over one text."""
from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)
_FENCE = re.compile(r"^(```|~~~)\w*$")


def duplicate_line_fraction(text: str) -> float:
    """Share of lines that occur more than once; code fences ("```python", "```") are markup, not lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _FENCE.match(line.strip())]
    if len(lines) < 2:
        return 0.0
    counts = Counter(lines)
    return sum(c for c in counts.values() if c > 1) / len(lines)


def top_ngram_share(tokens: list[str], n: int) -> float:
    """Characters covered by the most frequent n-gram (counted once per occurrence) / all word characters."""
    if len(tokens) < n + 1:
        return 0.0
    counts = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    gram, count = counts.most_common(1)[0]
    if count < 2:
        return 0.0
    return count * sum(len(w) for w in gram) / max(sum(len(w) for w in tokens), 1)


def duplicate_ngram_share(tokens: list[str], n: int) -> float:
    """Characters of words inside any n-gram that occurs more than once / all word characters."""
    if len(tokens) < n * 2:
        return 0.0
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(tokens)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i:i + n] = [True] * n
    return sum(len(w) for w, c in zip(tokens, covered) if c) / max(sum(len(w) for w in tokens), 1)


# thresholds from the Gopher rules: top 2/3/4-gram share, duplicate 5..10-gram share
TOP_NGRAM_MAX = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_MAX = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
DUP_LINE_MAX = 0.30


def repetition_problem(text: str, min_words: int = 50) -> str | None:
    """The first Gopher repetition rule `text` breaks, or None. N-gram rules apply from `min_words` words on:
    short answers repeat common pairs ("of the") without being degenerate."""
    frac = duplicate_line_fraction(text)
    if frac > DUP_LINE_MAX:
        return f"duplicate line fraction above {DUP_LINE_MAX}"
    tokens = [w.lower() for w in _WORD.findall(text)]
    if len(tokens) < min_words:
        return None
    for n, limit in TOP_NGRAM_MAX.items():
        share = top_ngram_share(tokens, n)
        if share > limit:
            return f"top {n}-gram share above {limit}"
    for n, limit in DUP_NGRAM_MAX.items():
        share = duplicate_ngram_share(tokens, n)
        if share > limit:
            return f"duplicate {n}-gram share above {limit}"
    return None


def repetition_ratio(text: str, min_words: int = 50) -> float:
    """The largest measured / allowed ratio over the rules above: 1.0 or more breaks a rule (for a soft score)."""
    ratios = [duplicate_line_fraction(text) / DUP_LINE_MAX]
    tokens = [w.lower() for w in _WORD.findall(text)]
    if len(tokens) >= min_words:
        ratios += [top_ngram_share(tokens, n) / limit for n, limit in TOP_NGRAM_MAX.items()]
        ratios += [duplicate_ngram_share(tokens, n) / limit for n, limit in DUP_NGRAM_MAX.items()]
    return max(ratios)
