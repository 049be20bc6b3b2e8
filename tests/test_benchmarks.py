"""The throughput benchmarks and the GPU check script, on small jobs."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_gpu_check_says_clearly_when_there_is_no_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run the check itself")
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("gpu_check: no CUDA device visible to torch")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_generators_table_cells_are_medians_of_the_rounds():
    import generators

    rounds = [{"generator": "bonito", "model": True, "records": n, "completion_tps": tps}
              for n, tps in ((4, 30.0), (6, 50.0), (5, 20.0))]
    assert generators.median_row(rounds) == {"generator": "bonito", "model": True, "records": 5,
                                             "completion_tps": 30.0}


def test_generators_ratio_to_magpie_is_taken_within_each_round():
    """The machine runs at half speed in the second round: the ratio of two medians would blame it on one
    generator, a ratio within each round does not."""
    import generators

    rounds = [[{"generator": "magpie", "completion_tps": 100.0 * speed},
               {"generator": "self_instruct", "completion_tps": 60.0 * speed * drift}]
              for speed, drift in ((1.0, 1.0), (0.5, 1.1), (0.5, 0.9))]
    assert generators.vs_magpie(rounds) == pytest.approx([1.0, 0.6])
    assert generators.per_round(rounds, 1) == pytest.approx([0.6, 0.66, 0.54])


def test_model_clock_counts_backend_time_and_nothing_for_model_free_generators():
    import generators

    clock = generators.ModelClock()
    row = generators.run_one("identity", clock)
    assert row["records"] == 14 and not row["model"] and row["model_share"] == 0

    from datagen.backends.base import Backend, Completion

    class Slow(Backend):
        def render_chat(self, messages, add_generation_prompt=True):
            return ""

        def _complete(self, prompts, params):
            import time

            time.sleep(0.05)
            return [[Completion("x")] for _ in prompts]

    from datagen.backends.base import SamplingParams

    Slow("slow").complete(["a", "b"], SamplingParams())
    assert 0.05 <= clock.seconds < 1

    # two calls side by side, the second starting while the first runs: the time either runs counts once
    import threading
    import time

    clock.seconds = 0.0
    calls = [threading.Thread(target=lambda: [Slow("slow").complete(["a"], SamplingParams()) for _ in range(4)])
             for _ in range(2)]
    calls[0].start()
    time.sleep(0.1)
    calls[1].start()
    for call in calls:
        call.join()
    assert 0.28 <= clock.seconds < 0.6


@pytest.mark.slow
def test_generation_benchmark_prints_bare_and_ours_on_the_same_prompts():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generation.py"), "--prompts", "4",
                          "--rounds", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    bare = next(line for line in lines if line.startswith("| bare llama.cpp"))
    ours = next(line for line in lines if line.startswith("| datagen default"))
    assert bare.split("|")[3].strip() == ours.split("|")[3].strip() == "4"  # records
    assert len(bare.split("|")[6].split()) == len(ours.split("|")[6].split()) == 2  # each round's seconds
    assert lines[-1].startswith("ours/bare ") and float(lines[-1].split()[1]) > 0


def test_read_write_speed_prints_both_speeds_and_their_ratio():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "read_write_speed.py"), "--rounds", "1"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = {line.split("|")[1].strip(): [float(cell) for cell in line.split("|")[3:5]]
            for line in out.stdout.splitlines() if line.startswith(("| read", "| write"))}
    (read, read2), (write, write2) = rows["read a prompt (empty cache)"], rows["write (one token at a time)"]
    assert min(read, read2, write, write2) > 0
    last = out.stdout.strip().splitlines()[-1].replace(",", "").split()
    assert last[0] == "read/write" and last[2:] == ["alone", last[3], "side", "by", "side"]
    # the cells are rounded to 0.1
    assert abs(float(last[1]) - read / write) < 0.05 and abs(float(last[3]) - read2 / write2) < 0.05
