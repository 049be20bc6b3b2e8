"""Verifiable answers: arithmetic re-computed, Python blocks parsed and run in a sandbox, links checked against the
record's own input."""
import pytest

from datagen.filters.arithmetic import Arithmetic, asked_value, safe_eval, states_value, wrong_equations
from datagen.filters.base import FilterContext
from datagen.filters.code_check import CodeCheck, check_code, python_blocks, run_snippet
from datagen.filters.links import Links, unsupported
from datagen.records import Provenance, make_record

PROV = Provenance(generator="test")


@pytest.mark.parametrize("text,wrong", [
    ("So 32 + 48 = 100 marbles.", ["32 + 48 = 100"]),
    ("32 + 48 = 80.", []),
    ("17 x 23 = 391 and 17 × 23 = 392", ["17 × 23 = 392"]),
    ("3 + 4 * 5 = 3 + 20 = 23", []),
    ("3 + 4 * 5 = 35", ["3 + 4 * 5 = 35"]),
    ("$4.50 * 3 = $13.50, and 1,234 + 5,678 = 6,912", []),
    ("10 / 3 = 3.33 but 10/3 = 3.4", ["10/3 = 3.4"]),
    ("2^10 = 1024; (18 + 22) * 3 = 40 * 3 = 120", []),
    ("Solve 2x + 3 = 7 for x. Then 15% of 80 = 12.", []),  # algebra and prose claims are not sums
    ("```python\nx = 1 + 2 = 4\n```", []),  # code is not a claim
])
def test_wrong_equations(text, wrong):
    assert wrong_equations(text) == wrong


def test_safe_eval_refuses_anything_but_arithmetic():
    assert safe_eval("2 ** 10 - 24 / 4") == 1018.0
    assert safe_eval("__import__('os').system('true')") is None
    assert safe_eval("9 ** 9 ** 9") is None and safe_eval("1 / 0") is None


@pytest.mark.parametrize("instruction,value", [
    ("What is 144 divided by 12?", 12), ("What is the square of 19?", 361), ("What is 15% of 80?", 12),
    ("Multiply 45 by 6.", 270), ("What is 9 squared plus 4 squared?", 97), ("Compute (18 + 22) * 3.", 120),
    ("What is the capital of France?", None), ("A train travels 60 miles per hour for 2.5 hours.", None),
])
def test_asked_value(instruction, value):
    assert asked_value(instruction) == value


def test_answer_must_state_the_asked_value():
    assert states_value("144 divided by 12 is 12.", 12) and not states_value("It is approximately 1.42.", 12)
    f = Arithmetic(Arithmetic.Params(), FilterContext("arithmetic"))
    [record] = f.apply([make_record("What is the square of 19?", "The square of 19 is 19.", PROV)])
    assert record.verdicts[-1].details["equations"] == ["361 (asked) not in the answer"]


def test_arithmetic_filter_names_the_equation():
    f = Arithmetic(Arithmetic.Params(), FilterContext("arithmetic"))
    bad, good = f.apply([make_record("What is 32 + 48?", "32 + 48 = 100.", PROV),
                         make_record("What is 32 + 48?", "32 + 48 = 80.", PROV)])
    assert (bad.verdicts[-1].reason, bad.verdicts[-1].details["equations"]) == \
        ("wrong arithmetic", ["32 + 48 = 100", "80 (asked) not in the answer"])
    assert good.verdicts[-1].keep


@pytest.mark.parametrize("source,reason", [
    ("def double(n):\n    return n * 2\n\nprint(double(4))\n", None),
    ("def double(n):\n    return m * 2\n", "broken code: undefined name"),
    ("def double(n:\n    return n\n", "broken code: syntax error"),
    ("numbers = [1, 2]\nprint(numbers[5])\n", "broken code: runtime error"),
    ("while True:\n    pass\n", "broken code: timed out"),
])
def test_check_code(source, reason):
    result = check_code(source, timeout_s=2)
    assert (result[0] if result else None) == reason


def test_sandbox_blocks_network_and_writes():
    assert run_snippet("import socket\nsocket.socket()\n") == "PermissionError"
    assert run_snippet("open('out.txt', 'w').write('x')\n") == "PermissionError"
    assert run_snippet("print(sum(range(10)))\n") is None


def test_code_filter_reads_python_blocks_only():
    answer = "Run this:\n```bash\nls -la\n```\nand this:\n```python\nprint(total)\n```\n"
    assert python_blocks(answer) == ["print(total)\n"]
    f = CodeCheck(CodeCheck.Params(), FilterContext("code_check"))
    [record] = f.apply([make_record("Write Python code.", answer, PROV)])
    assert (record.verdicts[-1].reason, record.verdicts[-1].details["detail"]) == \
        ("broken code: undefined name", "total")


def test_links_not_in_the_source():
    answer = ("See https://www.amazon.com/dp/B012YJMXNZ, doi 10.1038/nature14539 (Smith et al., 2019) and "
              "https://docs.python.org/3/tutorial/.")
    assert unsupported(answer, "Read https://docs.python.org/3/tutorial/ first.") == [
        "https://www.amazon.com/dp/B012YJMXNZ", "10.1038/nature14539", "Smith et al., 2019"]


def test_links_tag_by_default_reject_when_asked():
    record = make_record("Where can I buy a keyboard?", "Try https://www.amazon.com/dp/B012YJMXNZ today.", PROV)
    [tagged] = Links(Links.Params(), FilterContext("links")).apply([record.model_copy(deep=True)])
    assert tagged.verdicts[-1].keep and tagged.tags == ["unsupported_link"]
    [rejected] = Links(Links.Params(action="reject"), FilterContext("links")).apply([record])
    assert rejected.verdicts[-1].reason == "link or citation not in the source"
    grounded = make_record("Summarize https://example.org/a", "https://example.org/a says hello.", PROV)
    assert Links(Links.Params(action="reject"), FilterContext("links")).apply([grounded])[0].verdicts[-1].keep


def test_restated_operands_are_not_the_result():
    assert not states_value("144 divided by 12 is approximately 1.42.", 12)
    assert states_value("45 + 27 = 72, so the answer is 72.", 72)


def test_bare_domains_are_links():
    assert unsupported("See the Roman Empire Foundation (Methadk.org) for more.", "") == ["Methadk.org"]
    assert unsupported("Email me at sam@example.org today.", "") == []
