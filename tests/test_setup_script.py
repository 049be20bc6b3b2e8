"""scripts/llama_wheel_key.py: the folder setup.sh keeps the compiled llama-cpp-python wheel in."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "llama_wheel_key.py"


def run(*args: str, **env: str) -> str:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_wheel_folder_changes_with_cmake_args_and_is_stable_otherwise():
    key = run(CMAKE_ARGS="-DGGML_NATIVE=ON")
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert run(CMAKE_ARGS="-DGGML_NATIVE=ON") == key
    assert run(CMAKE_ARGS="-DGGML_NATIVE=OFF") != key


def test_the_wheel_folder_changes_with_the_cpu_flags(monkeypatch):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import llama_wheel_key
    finally:
        sys.path.remove(str(SCRIPT.parent))
    monkeypatch.setattr(llama_wheel_key, "cpu_flags", lambda: "fpu sse2 avx2")
    avx2 = llama_wheel_key.wheel_key()
    monkeypatch.setattr(llama_wheel_key, "cpu_flags", lambda: "fpu sse2 avx2 avx512f amx_tile")
    assert llama_wheel_key.wheel_key() != avx2


def test_the_requirement_is_the_one_in_pyproject():
    requirement = run("--requirement")
    assert requirement.startswith("llama-cpp-python")
    assert f'"{requirement}"' in (ROOT / "pyproject.toml").read_text()
