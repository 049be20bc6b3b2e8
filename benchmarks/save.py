"""`--save`: a benchmark's printed output also goes to benchmarks/results/NAME.md, under a header that says when, on
what machine, under what load and with what command it ran. The docs quote those files."""
from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = "an NVIDIA GPU" if shutil.which("nvidia-smi") else "no GPU"
    return f"{os.cpu_count()}-core CPU ({cpu}), {memory:.0f} GiB, {gpu}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    state = "busy" if one > 0.5 * os.cpu_count() else "idle"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min): {state}"


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def saved(name: str, enabled: bool):
    """Print as usual; when `enabled`, also write what was printed to results/NAME.md."""
    if not enabled:
        yield
        return
    started, load_before, buffer = datetime.now(timezone.utc), load(), io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield
    command = shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(
        f"# {name}\n\n"
        f"- date: {started:%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n"
        f"- load average at start: {load_before}; at end: {load()}\n"
        f"- command: `{command}`\n\n"
        f"```text\n{buffer.getvalue().rstrip()}\n```\n")
