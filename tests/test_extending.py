"""docs/extending.md, run as written: each new file on the page becomes a module, each registry line a registry
entry, and the page's pipeline runs with all of them. Nothing else is added, so the claim "one file plus one
registry line" is what this test checks."""
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from datagen import registry
from datagen.config import validate_config
from datagen.run_folder import RunFolder
from datagen.pipeline import run_pipeline

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FILE_BLOCK = re.compile(r"```python\n# (datagen/[\w/]+)\.py\n(.*?)```", re.DOTALL)
REGISTRY_BLOCK = re.compile(r'```python\n# datagen/registry\.py, (\w+)\n\s*"(\w+)": "([\w.:]+)",\n```')
PIPELINE_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


@pytest.fixture
def page_extensions(monkeypatch):
    """The page's files as modules and its registry lines as entries, for this test only."""
    text = PAGE.read_text(encoding="utf-8")
    files = FILE_BLOCK.findall(text)
    for path, code in files:
        module = types.ModuleType(path.replace("/", "."))
        monkeypatch.setitem(sys.modules, module.__name__, module)  # before running it: pydantic looks itself up there
        exec(compile(code, f"{PAGE}:{path}.py", "exec"), module.__dict__)
    entries = REGISTRY_BLOCK.findall(text)
    for registry_name, name, target in entries:
        monkeypatch.setitem(getattr(registry, registry_name).entries, name, target)
    return [path for path, _ in files], entries, yaml.safe_load(PIPELINE_BLOCK.findall(text)[-1])


def test_the_page_adds_each_kind_with_one_file_and_one_registry_line(page_extensions):
    files, entries, _ = page_extensions
    assert [kind for kind, _, _ in entries] == ["BACKENDS", "GENERATORS", "FILTERS", "STAGES"]
    # each registry line names a class in one of the page's files
    assert sorted(target.partition(":")[0] for _, _, target in entries) == sorted(p.replace("/", ".") for p in files)
    for kind, name, _ in entries:
        assert getattr(registry, kind).get(name).name == name


def test_the_page_pipeline_runs_with_its_backend_generator_filter_and_stage(page_extensions, tmp_path):
    _, _, pipeline = page_extensions
    config = validate_config({**pipeline, "output_dir": str(tmp_path)}, str(PAGE))
    result = run_pipeline(config, quiet=True)

    folder = RunFolder(result.path)
    records = list(folder.records())
    rejects = list(folder.rejects())
    assert [r.messages[0].content for r in records] == [
        "Explain tides in two sentences.", "Explain compilers in two sentences.", "Explain glaciers in two sentences."]
    assert all(r.messages[1].content == "Echo: " + r.messages[0].content for r in records)
    assert all(r.provenance.backend == "echo" and r.provenance.generator == "topics" for r in records)
    assert [r.verdicts[-1].reason for r in rejects] == ["contains 'cheese'"]
    words = sum(len(r.messages[1].content.split()) for r in records)
    assert result.stages["word_count"]["records"] == 3 and result.stages["word_count"]["words"] == words


def test_a_misspelt_backend_option_is_an_error_that_names_it(page_extensions):
    _, _, pipeline = page_extensions
    with pytest.raises(ValueError, match=r"backend\.prefx: unknown key"):
        validate_config({**pipeline, "backend": {"type": "echo", "prefx": "x"}}, str(PAGE))
