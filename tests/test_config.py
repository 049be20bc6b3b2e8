import pytest

from datagen.cli import main
from datagen.config import PROJECT_ROOT, ConfigError, load_config, validate_config
from datagen.inputs import fingerprint

GOOD = """
name: demo
seed: 3
backend: {type: llamacpp, model: embedded}
generators:
  - type: answer
    file: seeds/instructions.txt
    count: 4
filters:
  - type: length
"""


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_config_loads_and_labels(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.generators[0].name == "answer" and config.generators[0].params["file"] == "seeds/instructions.txt"
    assert config.source.name == "p.yaml"
    assert fingerprint(config) == fingerprint(load_config(write(tmp_path, GOOD, "q.yaml")))


@pytest.mark.parametrize("edit, expected", [
    (("count: 4", "count: four"), "generators.0.count"),
    (("count: 4", "count: 4\n    colour: red"), "generators.0.colour: unknown key"),
    (("type: length", "type: lenght"), "filters.0.type: unknown filter 'lenght'"),
    (("type: answer", "type: nope"), "generators.0.type: unknown generator 'nope'"),
    (("model: embedded}", "model: embedded, n_ctxx: 5}"), "backend.n_ctxx: unknown key"),
    (("seed: 3", "seed: 3\nfliters: []"), "fliters: unknown key"),
    (("name: demo", "name: 'bad name/'"), "name: String should match"),
    (("name: demo", "name: '..'"), "name: Value error, must name a folder inside output_dir"),
    (("count: 4", "count: true"), "generators.0.count: Input should be a valid integer"),
    (("seed: 3", "seed: 3\nevaluate: {judge_backend: {type: llamacpp, model: embedded, n_ctxx: 1}}"),
     "evaluate.judge_backend.n_ctxx: unknown key"),
    (("seed: 3", "seed: 3\nevaluate: {judge_backend: {type: nope}}"), "evaluate.judge_backend.type: unknown backend"),
    (("seed: 3", "seed: 3\nevaluate: {judge_backend: llamacpp}"), "evaluate.judge_backend: Input should be a valid dictionary"),
])
def test_errors_name_the_file_and_key(tmp_path, edit, expected):
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such pipeline file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed"))
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        validate_config(["a"], "x.yaml")


def test_cli_reports_config_errors(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("count: 4", "count: -1"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "generators.0.count" in err and str(path) in err
    assert main(["validate", str(write(tmp_path, GOOD, "ok.yaml"))]) == 0


def test_missing_data_file_is_named(run_in):
    from datagen.pipeline import run_pipeline

    config = validate_config({"name": "x", "generators": [{"type": "answer", "file": "nowhere.txt", "count": 1}]})
    with pytest.raises(ConfigError, match="generators.answer.file: file not found: nowhere.txt"):
        run_pipeline(config, quiet=True)


@pytest.mark.parametrize("path", sorted(p.relative_to(PROJECT_ROOT) for p in (PROJECT_ROOT / "pipelines").rglob("*.yaml")),
                         ids=str)
def test_every_shipped_pipeline_validates(path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    config = load_config(path)
    assert config.generators and config.name


def test_train_keys_renamed_to_trl_names_still_load():
    from pydantic import ValidationError

    from datagen.train.params import TrainParams

    with pytest.warns(DeprecationWarning, match="train.epochs is deprecated; use num_train_epochs"):
        old = TrainParams.model_validate({"epochs": 2, "batch_size": 4, "grad_accum": 2, "target_modules": ["q_proj"],
                                          "train_on_all": True})
    new = TrainParams(num_train_epochs=2, per_device_train_batch_size=4, gradient_accumulation_steps=2,
                      lora_target_modules=["q_proj"], assistant_only_loss=False)
    assert old == new and TrainParams().assistant_only_loss is True
    # a flag under the current name overrides the run's block under the old one
    assert TrainParams.model_validate({"epochs": 2, "num_train_epochs": 1}).num_train_epochs == 1
    assert TrainParams(ablations={"all-tokens": {"train_on_all": True}}).ablations  # old names vary too
    with pytest.raises(ValidationError, match="train_on_all: must be true or false"):
        TrainParams.model_validate({"train_on_all": "sometimes"})
    with pytest.raises(ValidationError, match="cannot vary"):
        TrainParams(ablations={"x": {"epoch": 1}})
