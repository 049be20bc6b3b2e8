"""Name of setup.sh's llama-cpp-python wheel folder for this machine, or (--requirement) the pinned requirement.

The folder name hashes what the compiled wheel depends on: machine, CPU feature flags and CMAKE_ARGS.
"""

import hashlib
import os
import platform
import re
import sys
from pathlib import Path


def cpu_flags() -> str:
    try:
        match = re.search(r"^(flags|Features)\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(2).strip() if match else platform.processor()


def wheel_key() -> str:
    parts = (platform.machine(), cpu_flags(), os.environ.get("CMAKE_ARGS", ""))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def llama_requirement() -> str:
    # A plain search, not tomllib: that needs Python 3.11 and the project supports 3.10.
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    return re.search(r'^\s*"(llama-cpp-python[^"]*)"', pyproject, re.MULTILINE).group(1)


if __name__ == "__main__":
    print(llama_requirement() if sys.argv[1:] == ["--requirement"] else wheel_key())
