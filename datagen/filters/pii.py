"""PII scrubbing: emails, public IP addresses, phone numbers, card numbers, US social security numbers, IBANs and
secrets (API keys, access tokens, private keys) become placeholders.

IP addresses are kept when private, loopback, link-local or reserved (ipaddress module); card numbers must pass the
Luhn check and IBANs the ISO 13616 mod-97 check; SSNs must have a valid area, group and serial; phone numbers need
10 to 15 digits in a phone-like layout (a bare 10-digit number only when it is a valid North American number).
Secrets are matched by their issuers' published prefixes (sk-, AKIA, ghp_, hf_, ...); an AWS secret access key,
which has none, by its 40-character shape. Records are kept, scrubbed, unless `action: reject`.
"""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Callable, Literal

from datagen.filters.base import FilterParams, RecordFilter
from datagen.records import Message, Record

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w|[ .-]\d)")
# +33 1 23 45 67 89, +14155552671, +44 20 7946 0958: a country code, then digit groups
PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?!\w|[ .-]\d)")
# 4155552671, 1-800-555-0199, (415) 555-0142: area code and exchange start with 2-9
PHONE_NANP = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}"
                        r"(?!\w|[ .-]\d)")
SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
SECRET = re.compile(
    r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic (sk-ant-...), sk-proj-...
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|\bhf_[A-Za-z0-9]{30,}\b"  # Hugging Face
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API key
)
AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# a whole PEM private key block; one cut off before its END line is scrubbed to the end of the text
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
                         re.DOTALL)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def _card(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone(text: str) -> bool:
    return 10 <= len(re.sub(r"\D", "", text)) <= 15


def _iban(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35; the number mod 97 is 1."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


def _aws_secret(text: str) -> bool:
    # random base64: mixed case and digits (a git SHA is lowercase hex; words and paths rarely reach 40 characters)
    return bool(re.search(r"[a-z]", text) and re.search(r"[A-Z]", text) and re.search(r"\d", text))


def _always(text: str) -> bool:
    return True


# order matters: secrets first (they hold digit runs), IBANs and cards before phones (they also look like digits),
# SSNs before phones, emails before IPs
RULES: list[tuple[str, re.Pattern, str, Callable[[str], bool]]] = [
    ("private_key", PRIVATE_KEY, "<PRIVATE_KEY>", _always),
    ("secret", SECRET, "<SECRET>", _always),
    ("secret", AWS_SECRET, "<SECRET>", _aws_secret),
    ("email", EMAIL, "<EMAIL>", _always),
    ("iban", IBAN, "<IBAN>", _iban),
    ("credit_card", CARD, "<CREDIT_CARD>", _card),
    ("ip_address", IPV4, "<IP_ADDRESS>", _public_ip),
    ("ip_address", IPV6, "<IP_ADDRESS>", _public_ip),
    ("ssn", SSN, "<SSN>", _always),
    ("phone", PHONE_INTL, "<PHONE>", _phone),
    ("phone", PHONE_NANP, "<PHONE>", _phone),
    ("phone", PHONE, "<PHONE>", _phone),
]


def scrub(text: str, counts: Counter) -> str:
    for kind, pattern, placeholder, valid in RULES:
        def replace(match: re.Match) -> str:
            if not valid(match.group(0)):
                return match.group(0)
            counts[kind] += 1
            return placeholder
        text = pattern.sub(replace, text)
    return text


class PiiParams(FilterParams):
    action: Literal["scrub", "reject"] = "scrub"
    roles: list[Literal["system", "user", "assistant"]] = ["system", "user", "assistant"]


class Pii(RecordFilter):
    name = "pii"
    Params = PiiParams

    def judge(self, record: Record) -> Record:
        counts: Counter = Counter()
        messages = [Message(role=m.role, content=scrub(m.content, counts)) if m.role in self.params.roles else m
                    for m in record.messages]
        if not counts:
            return self.keep(record)
        found = dict(sorted(counts.items()))
        if self.params.action == "reject":
            return self.reject(record, "contains PII: " + ", ".join(found), **found)
        scrubbed = record.with_messages(messages, metadata={"pii_scrubbed_from": record.id})
        return self.keep(scrubbed, **found)
