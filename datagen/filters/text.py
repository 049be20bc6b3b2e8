"""Text views and normalizations shared by the dedup, decontamination and quality filters."""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Literal

from datagen.records import Record

Fields = Literal["instruction", "conversation", "user", "response"]

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)  # anything but letters and digits
_DIGIT = re.compile(r"\d")
_SPACE = re.compile(r"\s+")
_ZERO_DIGITS = str.maketrans("123456789", "000000000")


def record_text(record: Record, fields: Fields = "conversation") -> str:
    """The part of a record a filter compares: the first user turn, all user turns, the last answer, or all turns."""
    if fields == "instruction":
        return record.instruction
    if fields == "response":
        return record.response
    roles = ("user",) if fields == "user" else ("system", "user", "assistant")
    return "\n".join(m.content for m in record.messages if m.role in roles)


def strip_invisible(text: str) -> str:
    """Drop format characters (Unicode category Cf: zero-width space and joiners, soft hyphen, BOM, direction
    marks): they do not show, so texts that differ only by them are the same text. Else one inside a word
    splits it in two and defeats both dedups."""
    if text.isascii():  # the common case has none
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def normalize_exact(text: str) -> str:
    """NFKC + casefold, punctuation dropped and whitespace collapsed: texts that differ only in form compare equal."""
    text = unicodedata.normalize("NFKC", strip_invisible(text)).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def strip_accents(text: str) -> str:
    if text.isascii():  # the common case needs no decomposition
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def fuzzy_words(text: str) -> list[str]:
    """Near-dedup normalization (as datatrove), as words: lowercase, digits -> 0, punctuation -> space, no combining
    marks. One regex pass; ASCII digits by a translation table, other digits by the regex."""
    text = strip_accents(unicodedata.normalize("NFKC", strip_invisible(text)).lower()).translate(_ZERO_DIGITS)
    if not text.isascii():
        text = _DIGIT.sub("0", text)
    return _PUNCT.sub(" ", text).split()


def normalize_fuzzy(text: str) -> str:
    return " ".join(fuzzy_words(text))


def ngrams(tokens: list[str], n: int) -> Iterable[tuple[str, ...]]:
    """Word n-grams; a text shorter than n yields itself as one gram, so short texts still compare."""
    if len(tokens) < n:
        if tokens:
            yield tuple(tokens)
        return
    for i in range(len(tokens) - n + 1):
        yield tuple(tokens[i:i + n])
