"""Wrong arithmetic: every `a op b = c` chain in an answer is re-computed with a small ast-based evaluator (numbers
and + - * / // % ** only; never eval) and compared with the result the answer states, to the decimals it shows.
When the instruction itself is a sum ("What is 144 divided by 12?"), its value must appear in the answer.

Code blocks and inline code are skipped (`x = 5` there is an assignment, not a claim).
"""
from __future__ import annotations

import ast
import operator
import re

from pydantic import Field

from datagen.filters.base import FilterParams, RecordFilter
from datagen.records import Record

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_NUM = r"\d[\d,]*(?:\.\d+)?"
# a run of numbers, operators and brackets, not glued to a word ("2x + 3 = 7" is algebra, not a sum)
_CHAIN = re.compile(rf"(?<![\w.^*/+-])[$(]*{_NUM}%?[)]*(?:\s*(?:[-+*/×÷x^=]|\*\*)\s*[$(]*{_NUM}%?[)]*)+(?![\w(])")
_OPERATOR = re.compile(r"\d\s*(?:[-+*/×÷x^]|\*\*)\s*[$(]*\d")


def safe_eval(expression: str) -> float | None:
    """The value of a plain arithmetic expression, or None when it is anything else (names, calls, huge powers)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
                raise ValueError("power too large")
            return _OPS[type(node.op)](left, right)
        raise ValueError("not arithmetic")

    try:
        return float(value(tree.body))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None


def _python(side: str) -> str:
    side = side.replace("$", "").replace(",", "").replace("×", "*").replace("÷", "/").replace("^", "**")
    side = re.sub(r"(?<=[\d)])\s*x\s*(?=[\d($])", "*", side)
    return re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", side)


def _decimals(side: str) -> int:
    match = re.search(r"\.(\d+)%?\s*$", side.strip())
    return len(match.group(1)) if match else 0


_WORD_OPS = [(r"\s+(?:divided by|over)\s+", " / "), (r"\s+(?:times|multiplied by)\s+", " * "),
             (r"\s+plus\s+", " + "), (r"\s+minus\s+", " - "), (r"\s+to the power of\s+", " ** "),
             (r"\b(?:the )?square of ([\d.]+)", r"\1 ** 2"), (r"\b([\d.]+) squared\b", r"\1 ** 2"),
             (r"\b([\d.]+)% of ([\d.]+)", r"\1 / 100 * \2"), (r"\bmultiply ([\d.]+) by ([\d.]+)", r"multiply \1 * \2"),
             (r"\bdivide ([\d.]+) by ([\d.]+)", r"divide \1 / \2"), (r"\badd ([\d.]+) and ([\d.]+)", r"add \1 + \2")]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def asked_value(instruction: str) -> float | None:
    """The value of the one arithmetic expression an instruction asks for ("Compute (18 + 22) * 3."), else None."""
    text = _with_operators(_CODE.sub(" ", instruction))
    chains = [m.group(0) for m in _CHAIN.finditer(text) if _OPERATOR.search(m.group(0)) and "=" not in m.group(0)]
    if len(chains) != 1 or not re.match(r"\s*(?:what is|what's|compute|calculate|evaluate|solve|find|multiply|divide|add)\b", text, re.I):
        return None
    return safe_eval(_python(chains[0]))


def _with_operators(text: str) -> str:
    for pattern, op in _WORD_OPS:
        text = re.sub(pattern, op, text, flags=re.IGNORECASE)
    return text


def states_value(answer: str, value: float) -> bool:
    """The value appears in the answer as a result: operands of a restated sum ("144 divided by 12 is 1.42") and
    left-hand sides of equations do not count."""
    text = _CHAIN.sub(lambda m: " " + m.group(0).split("=")[-1] if "=" in m.group(0) else " ",
                      _with_operators(answer.replace("$", "")))
    numbers = [float(n.replace(",", "")) for n in _NUMBER.findall(text)]
    return any(abs(n - value) <= max(0.01, 1e-6 * abs(value)) for n in numbers)


def wrong_equations(text: str) -> list[str]:
    """The equations in `text` whose stated results do not match their left-hand side."""
    wrong = []
    for match in _CHAIN.finditer(_CODE.sub(" ", text)):
        chain = match.group(0)
        sides = chain.split("=")
        # "15% of 80 = 12": a bare number before '=' is the end of a sentence's claim, not a computation
        if len(sides) < 2 or any(not s.strip() for s in sides) or not _OPERATOR.search(sides[0]):
            continue
        values = [safe_eval(_python(s)) for s in sides]
        for left, (right_text, right) in zip(values, zip(sides[1:], values[1:])):
            if left is None or right is None:
                continue
            tolerance = 0.5 * 10 ** -_decimals(right_text) + 1e-9 * abs(left)
            if abs(left - right) > tolerance:
                wrong.append(chain.strip())
                break
    return wrong


class ArithmeticParams(FilterParams):
    roles: list[str] = Field(["assistant"], description="turns whose equations are checked")


class Arithmetic(RecordFilter):
    name = "arithmetic"
    Params = ArithmeticParams

    def judge(self, record: Record) -> Record:
        wrong = [eq for m in record.messages if m.role in self.params.roles for eq in wrong_equations(m.content)]
        asked = asked_value(record.instruction)
        if asked is not None and not states_value(record.response, asked):
            wrong.append(f"{asked:g} (asked) not in the answer")
        return self.reject(record, "wrong arithmetic", equations=wrong[:5]) if wrong else self.keep(record)
