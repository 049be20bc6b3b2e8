"""MinHash signatures for many texts at once, in datasketch's own affine32 scheme.

datasketch hashes one set at a time; here each distinct word is hashed once (xxh32), word n-gram hashes are mixed
from them with numpy, and every shingle of a batch is permuted in one operation and reduced per text. A signature is
the one datasketch.MinHash(scheme="affine32") gives for the same 32-bit shingle hashes.
"""
from __future__ import annotations

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.minhash import _fmix

from datagen.filters.text import fuzzy_words

SCHEME = "affine32"
_MIX = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1, 0xD3A2646C, 0xFD7046C5, 0xB55A4F09,
                 0x68E31DA4, 0x1B56C4E9], dtype=np.uint32)
CHUNK = 512  # texts permuted at once (bounds the temporary arrays)


class MinHasher:
    def __init__(self, num_perm: int = 128, ngram: int = 3, seed: int = 1) -> None:
        if ngram > len(_MIX):
            raise ValueError(f"ngram must be at most {len(_MIX)}")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        template = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME)
        self.a, self.b = (np.asarray(p, dtype=np.uint32) for p in template.permutations)
        self.empty = template.hashvalues.copy()
        self.vocab: dict[str, int] = {}

    def _word_ids(self, text: str) -> list[int]:
        words = fuzzy_words(text)
        ids = list(map(self.vocab.get, words))
        if None in ids:  # first sight of some words: hash them once
            for i, (word, h) in enumerate(zip(words, ids)):
                if h is None:
                    ids[i] = self.vocab.setdefault(word, xxhash.xxh32_intdigest(word.encode("utf-8")))
        return ids

    def shingle_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """32-bit hashes of every word n-gram of every text (a text shorter than n is one gram), and the number of
        grams per text."""
        word_hashes = [self._word_ids(t) for t in texts]
        lengths = np.fromiter((len(w) for w in word_hashes), dtype=np.int64, count=len(texts))
        flat = np.fromiter((h for w in word_hashes for h in w), dtype=np.uint32, count=int(lengths.sum()))
        n = self.ngram
        ends = np.cumsum(lengths)
        starts = ends - lengths
        grams = np.maximum(lengths - n + 1, np.minimum(lengths, 1))  # 1 gram for 0 < length < n
        first = np.repeat(starts, grams) + (np.arange(int(grams.sum())) - np.repeat(np.cumsum(grams) - grams, grams))
        width = np.minimum(np.repeat(lengths, grams), n)
        padded = np.concatenate([flat, np.zeros(n, dtype=np.uint32)])
        with np.errstate(over="ignore"):
            mixed = np.zeros(len(first), dtype=np.uint32)
            for k in range(n):
                word = np.where(k < width, padded[first + k], np.uint32(0))
                mixed = _fmix(mixed ^ (word * _MIX[k]), 32)
        return mixed, grams

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32; a text with no words gets the empty signature."""
        hashes, grams = self.shingle_hashes(texts)
        out = np.tile(self.empty, (len(texts), 1))
        offsets = np.concatenate(([0], np.cumsum(grams)))
        for lo in range(0, len(texts), CHUNK):
            hi = min(lo + CHUNK, len(texts))
            sizes = grams[lo:hi]
            if sizes.sum() == 0:
                continue
            chunk = _fmix(hashes[offsets[lo]:offsets[hi]], 32)
            with np.errstate(over="ignore"):
                permuted = np.multiply.outer(self.a, chunk)  # (num_perm, grams): rows stay contiguous
                permuted += self.b[:, None]  # wraps mod 2^32, as datasketch does
            nonempty = sizes > 0
            starts = (offsets[lo:hi] - offsets[lo])[nonempty]
            out[lo:hi][nonempty] = np.minimum.reduceat(permuted, starts, axis=1).T
        return out
