import pytest

from datagen.filters.base import FilterContext
from datagen.filters.pii import Pii, luhn_ok
from datagen.records import Provenance, make_record

PROV = Provenance(generator="test")


def run(instruction, response="Sure, here it is.", **params):
    f = Pii(Pii.Params(**params), FilterContext("pii"))
    return f.apply([make_record(instruction, response, PROV)])[0]


def test_scrubs_each_kind_and_counts_them():
    out = run("Write to jane.roe@example.org or call +1 (415) 555-0142 about the server at 8.8.8.8 "
              "and 2001:4860:4860::8888; my card is 4111 1111 1111 1111.",
              "I will email jane.roe@example.org today.")
    assert out.kept
    assert out.instruction == ("Write to <EMAIL> or call <PHONE> about the server at <IP_ADDRESS> and <IP_ADDRESS>; "
                               "my card is <CREDIT_CARD>.")
    assert out.response == "I will email <EMAIL> today."
    assert out.verdicts[-1].details == {"credit_card": 1, "email": 2, "ip_address": 2, "phone": 1}
    assert out.id != out.metadata["pii_scrubbed_from"]  # the scrubbed text has its own id


def test_private_addresses_bad_cards_and_ordinary_numbers_stay():
    text = ("Ping 192.168.1.10, 10.0.0.1, 127.0.0.1 and ::1. Order 4111 1111 1111 1112 costs 1,250 dollars; "
            "version 3.2, call at 10:30 on 2024-05-01, ISBN 978-3-16-148410-0.")
    out = run(text)
    assert out.instruction == text
    assert out.verdicts[-1].details == {}


def test_reject_option():
    out = run("My email is bob@example.com, please write a reply.", action="reject")
    assert not out.kept and out.rejection().reason == "contains PII: email"


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("5500005555555559") and not luhn_ok("4111111111111112")


@pytest.mark.parametrize("phone", ["4155552671", "+14155552671", "1-800-555-0199", "+33 1 23 45 67 89",
                                   "(415) 555-0142", "415.555.0142", "+44 20 7946 0958"])
def test_common_phone_layouts(phone):
    out = run(f"Call me at {phone} tomorrow.")
    assert out.instruction == "Call me at <PHONE> tomorrow." and out.verdicts[-1].details == {"phone": 1}


# shaped like real credentials, but made up (the AWS pair is AWS's own documentation example)
SECRETS = {
    "sk-proj-Xk2mP9qLr7TtW3vZ8yNc4B6dF1gH5jK0": "secret", "sk-ant-api03-abcDEF123456ghiJKL789012mnoPQR": "secret",
    "AKIAIOSFODNN7EXAMPLE": "secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "secret",
    "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2: "secret", "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNm1234" + "56": "secret",
    "123-45-6789": "ssn", "DE89 3704 0044 0532 0130 00": "iban", "GB82WEST12345698765432": "iban",
}


@pytest.mark.parametrize("value, kind", SECRETS.items())
def test_secrets_ssns_and_ibans_are_scrubbed(value, kind):
    out = run(f"Use {value} for the account.", f"Your value {value} is set.")
    placeholder = {"secret": "<SECRET>", "ssn": "<SSN>", "iban": "<IBAN>"}[kind]
    assert out.instruction == f"Use {placeholder} for the account." and value not in out.response
    assert out.verdicts[-1].details == {kind: 2}


def test_private_key_blocks_are_scrubbed_whole_even_when_cut_off():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gun\n" \
            "-----END RSA PRIVATE KEY-----"
    out = run(f"Store this key:\n{block}\nin the vault.", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk")
    assert out.instruction == "Store this key:\n<PRIVATE_KEY>\nin the vault." and out.response == "<PRIVATE_KEY>"


def test_lookalikes_stay():
    text = ("Commit 3f786850e387550fdab836ed7e6dc881de23001b, invoice DE89 3704 0044 0532 0130 01, "
            "SSN-like 000-12-3456 and 666-12-3456, timestamp 1700000000, number 1234567890, the word "
            "sk-learn, and a path /usr/local/lib/python3/site-packages.")
    out = run(text)
    assert out.instruction == text and out.verdicts[-1].details == {}
