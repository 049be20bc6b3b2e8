import re
import shutil
import tempfile

import pytest
from run_fixture import make_run

from datagen.cli import main
from datagen.report import ReportParams, lead_words, md_cell, summarize_run, token_counter, write_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1200,3000"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("rep") / "fixture")


@pytest.fixture(scope="module")
def report(run):
    return write_report(run.path, ReportParams(samples=20, tokenizer="words"))


def test_report_writes_page_markdown_and_every_chart(run, report):
    folder = run.path / "report"
    assert report["charts"] == sorted(["generators.png", "task_types.png", "lengths.png", "funnel.png",
                                       "scores.png", "first_words.png", "verb_objects.png"])
    for name in report["charts"]:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (folder / "index.html").read_text()
    assert [f"{n}" for n in re.findall(r'<img src="([^"]+)"', html)] == [
        "generators.png", "task_types.png", "funnel.png", "lengths.png", "scores.png", "first_words.png",
        "verb_objects.png"]
    md = (folder / "report.md").read_text()
    for name in report["charts"]:
        assert f"]({name})" in md
    assert report["length_unit"].startswith("words")
    assert "lengths in words" in html and "| length | 24 | 20 | 4 | response too short: 4 |" in md


def test_page_is_static_and_escapes_record_text(run, report):
    html = (run.path / "report" / "index.html").read_text()
    assert "<script" not in html.replace("&lt;script", "")  # no JavaScript at all, the record's is escaped
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; a | pipe" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from a network
    md = (run.path / "report" / "report.md").read_text()
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; a \\| pipe<br>and" in md
    assert md.count("\n| `") == 20  # the sample rows, one line each


def test_summary_counts(run):
    summary = summarize_run(run.path, count=lambda text: len(text.split()), samples=5, seed=1)
    assert summary.kept == 20 and len(summary.samples) == 5
    assert summary.per_generator == {"answer": 10, "answer_b": 10}
    assert summary.per_task_type == {"qa": 10, "writing": 10}
    assert summary.funnel() == [("generated", 24), ("after length", 20)]
    assert sorted(summary.scores) == ["quality", "reward"] and len(summary.scores["quality"]) == 10
    assert summary.first_words["explain"] == 3 and summary.first_words["what?"] == 2
    assert summary.turns == {1: 19, 2: 1}
    assert len(summary.instruction_lengths) == 20 and min(summary.response_lengths) >= 1
    assert [r.id for r in summary.samples] == [r.id for r in summarize_run(run.path, samples=5, seed=1).samples]


def test_lead_words_heuristic():
    assert lead_words("Please write a short poem about cats.") == ("write", "write poem")
    assert lead_words("Can you explain the water cycle?") == ("explain", "explain water")
    assert lead_words("What is the capital of France?") == ("what?", "what? capital")
    assert lead_words("Summarize.") == ("summarize", None)
    assert lead_words("123 !!") == ("(none)", None)


def test_embedded_tokenizer_counts_tokens():
    count, unit = token_counter("embedded")
    assert unit == "tokens (SmolLM2-135M-Instruct tokenizer)"
    text = "Explain why the sky is blue in two sentences."
    assert count(text) > len(text.split()) and count("") == 0
    assert token_counter("words")[0](text) == 9


def test_md_cell_escapes():
    assert md_cell("a|b\nc <i>") == "a\\|b<br>c &lt;i&gt;"


def test_inspect_prints_tables_and_records(run, capsys):
    assert main(["inspect", str(run.path), "--records", "2"]) == 0
    out = capsys.readouterr().out
    assert "run fixture: 24 generated, 20 kept, 4 rejected" in out
    assert re.search(r"answer_b\s+12\s+10\s+2\s+0", out)
    assert re.search(r"length\s+24\s+20\s+4\s+response too short", out)
    assert re.search(r"quality\s+10\s+0\s+", out)
    assert out.count("\n--- ") == 2 and "assistant: " in out


def test_cli_report(run, tmp_path, capsys):
    assert main(["report", str(run.path), "--out", str(tmp_path), "--tokenizer", "words", "--samples", "3"]) == 0
    assert "7 charts, 20 records, lengths in words" in capsys.readouterr().out
    assert (tmp_path / "index.html").read_text().count('<tr><td><code>') == 3


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("headless browser check needs Debian packages chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='datagen-chromium-')}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_report_renders_in_headless_chromium(run, report):
    pytest.importorskip("selenium", reason="pip install selenium (the dev extra)")
    browser = _browser()
    try:
        browser.get((run.path / "report" / "index.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        rows = browser.execute_script("return document.querySelectorAll('#samples tbody tr').length")
        text = browser.execute_script("return document.querySelector('#samples').innerText")
    finally:
        browser.quit()
    assert len(images) == 7
    assert all(complete and width > 0 for _, complete, width in images), images
    assert rows == 20
    # escaped markup shows as text: a `<script>` in a record is neither run nor swallowed
    assert "<script>alert('x')</script> & a | pipe" in text


def test_report_shows_rejected_examples_per_reason(run, report):
    rejected = summarize_run(run.path).rejected
    assert {reason: len(records) for reason, records in rejected.items()} == {"length: response too short": 3}
    folder = run.path / "report"
    assert (folder / "report.md").read_text().count("| length: response too short | `") == 3
    assert (folder / "index.html").read_text().count('<tr><td>length: response too short</td>') == 3
