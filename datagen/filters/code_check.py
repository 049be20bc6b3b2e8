"""Broken code: Python blocks in an answer are parsed (ast), checked for undefined names (pyflakes), and, when they
are self-contained (standard-library imports from a short list, no input, files or network), run in a subprocess
with a timeout and CPU, memory and file-size limits. An audit hook in the child refuses sockets, subprocesses and
writes, so a snippet cannot reach the network or the disk.
"""
from __future__ import annotations

import ast
import re
import resource
import subprocess
import sys
import tempfile
import textwrap

from pydantic import Field

from datagen.filters.base import FilterParams, RecordFilter
from datagen.records import Record

_BLOCK = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|$)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", ""}
SAFE_IMPORTS = {"math", "random", "string", "collections", "itertools", "functools", "re", "datetime", "statistics",
                "fractions", "decimal", "heapq", "bisect", "json", "typing", "dataclasses", "operator", "copy", "enum"}
_UNSAFE_CALLS = {"input", "open", "exec", "eval", "compile", "__import__", "breakpoint", "exit", "quit"}

# the child refuses anything that leaves the process: network, new processes, writes
_GUARD = textwrap.dedent("""
    import sys
    def _guard(event, args):
        if event.startswith(("socket.", "subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
                             "os.fork", "os.remove", "os.rename", "os.rmdir", "shutil.")) or (
                event == "open" and len(args) > 1 and isinstance(args[1], str) and set(args[1]) & set("wax+")):
            raise PermissionError("blocked: " + event)
    sys.addaudithook(_guard)
    del _guard
""")


def python_blocks(text: str) -> list[str]:
    """Fenced code blocks tagged python (or untagged ones that parse as Python and look like code)."""
    blocks = []
    for tag, body in _BLOCK.findall(text):
        if tag.lower() not in _PYTHON_TAGS or not body.strip():
            continue
        if tag or re.search(r"^\s*(?:def |class |import |from |print\(|for |while |\w+\s*=)", body, re.MULTILINE):
            blocks.append(body)
    return blocks


def undefined_names(source: str) -> list[str]:
    from pyflakes.api import check
    from pyflakes.reporter import Reporter

    class Collect(Reporter):
        def __init__(self) -> None:
            self.names: list[str] = []

        def flake(self, message) -> None:
            if type(message).__name__ in ("UndefinedName", "UndefinedLocal"):
                self.names.append(str(message.message_args[0]))

        def syntaxError(self, *args) -> None:  # noqa: N802 (pyflakes' name)
            pass

        def unexpectedError(self, *args) -> None:  # noqa: N802
            pass

    reporter = Collect()
    check(source, "snippet", reporter)
    return reporter.names


def self_contained(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] not in SAFE_IMPORTS for a in node.names):
            return False
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] not in SAFE_IMPORTS:
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _UNSAFE_CALLS:
            return False
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return False
    return True


def _limits(cpu_s: int, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no new processes (ignored for root; the hook covers it)


def run_snippet(source: str, timeout_s: float = 5.0, memory_mb: int = 256) -> str | None:
    """None when the snippet runs cleanly, else the exception name ('timeout' when it runs too long)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            done = subprocess.run([sys.executable, "-I", "-c", _GUARD + source], cwd=folder, env={},
                                  capture_output=True, text=True, timeout=timeout_s,
                                  preexec_fn=lambda: _limits(int(timeout_s) + 1, memory_mb))
        except subprocess.TimeoutExpired:
            return "timeout"
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["killed"])[-1]
    return last.split(":")[0].strip() or "error"


def check_code(source: str, execute: bool = True, timeout_s: float = 5.0) -> tuple[str, str] | None:
    """(reason, detail) for a broken snippet, None for one that passes."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return "broken code: syntax error", f"line {err.lineno}: {err.msg}"
    if names := undefined_names(source):
        return "broken code: undefined name", ", ".join(dict.fromkeys(names))
    if execute and self_contained(tree):
        error = run_snippet(source, timeout_s)
        if error == "timeout":
            return "broken code: timed out", f"over {timeout_s:g} s"
        if error and error not in ("PermissionError", "MemoryError"):  # our sandbox limits, not the snippet's bug
            return "broken code: runtime error", error
    return None


class CodeCheckParams(FilterParams):
    execute: bool = Field(True, description="run self-contained snippets in a sandboxed subprocess")
    timeout_s: float = Field(5.0, gt=0, le=60)


class CodeCheck(RecordFilter):
    name = "code_check"
    Params = CodeCheckParams

    def judge(self, record: Record) -> Record:
        # the blocks of one answer are one program: a later block may use an earlier one's function
        blocks = python_blocks(record.response)
        problem = check_code("\n".join(blocks), self.params.execute, self.params.timeout_s) if blocks else None
        return self.reject(record, problem[0], detail=problem[1]) if problem else self.keep(record)
