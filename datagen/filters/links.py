"""Links and citations the answer cannot have from its input: URLs, DOIs and author-year citations in an answer that
appear in no user or system turn (the instruction, a Self-Instruct input, a Bonito passage) nor in the record's
`passage` / `input` metadata. A small model invents them ("https://www.amazon.com/dp/B012YJMXNZ", "Smith et al.,
2019"); they are tagged `unsupported_link` by default, rejected with `action: reject`.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from datagen.filters.base import FilterParams, RecordFilter
from datagen.records import Record

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]{}\"'`]+", re.IGNORECASE)
# a bare domain ("Méthadk.org") is a link too
_DOMAIN = re.compile(r"(?<![@\w./:-])[^\W_][\w-]*(?:\.[\w-]+)*\.(?:com|org|net|edu|gov|int|io|info)\b(?![\w/-])")
_DOI = re.compile(r"\b10\.\d{4,9}/[^\s<>()\[\]{}\"'`]+")
_CITATION = re.compile(r"\b[A-Z][\w'-]+(?: and [A-Z][\w'-]+| et al\.?),? \(?(?:19|20)\d\d\)?"
                       r"|\([A-Z][\w'-]+(?: et al\.?)?,? (?:19|20)\d\d\)")
SOURCE_FIELDS = ("passage", "input", "source", "context")


def _bare(link: str) -> str:
    link = link.rstrip(".,;:!?*_").lower()
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", link).rstrip("/")


def unsupported(answer: str, source: str) -> list[str]:
    """Links, DOIs and citations in `answer` that `source` does not contain."""
    found = [m.group(0).rstrip(".,;:!?*_").strip("()") for pattern in (_URL, _DOMAIN, _DOI, _CITATION)
             for m in pattern.finditer(answer)]
    source_links = {_bare(m.group(0)) for pattern in (_URL, _DOI) for m in pattern.finditer(source)}
    folded = " ".join(source.lower().split())
    out = []
    for item in dict.fromkeys(found):
        bare = _bare(item)
        if bare not in source_links and bare not in folded and " ".join(item.lower().split()) not in folded:
            out.append(item)
    return out


class LinksParams(FilterParams):
    action: Literal["tag", "reject"] = Field("tag", description="tag `unsupported_link`, or reject the record")


class Links(RecordFilter):
    name = "links"
    Params = LinksParams

    def judge(self, record: Record) -> Record:
        source = "\n".join([m.content for m in record.messages if m.role != "assistant"]
                           + [str(record.metadata[k]) for k in SOURCE_FIELDS if k in record.metadata])
        found = [x for m in record.messages if m.role == "assistant" for x in unsupported(m.content, source)]
        if found and self.params.action == "reject":
            return self.reject(record, "link or citation not in the source", links=found[:5])
        if found and "unsupported_link" not in record.tags:
            record.tags.append("unsupported_link")
        return self.keep(record, **({"links": found[:5]} if found else {}))
