"""Pipeline YAML -> pydantic models. Every error names the file and the key path."""
from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, ValidationError, create_model,
                      field_validator, model_validator)

from datagen.errors import ConfigError
from datagen.registry import BACKENDS, FILTERS, GENERATORS, STAGES, Registry
from datagen.secrets import env_stand_ins, read_secrets, redact

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackendConfig(BaseModel):
    """`type` picks the engine; other keys are that engine's own options (its constructor arguments)."""

    model_config = ConfigDict(extra="allow")

    type: str = "llamacpp"
    model: str = "embedded"
    # process-parallel generation: "auto" picks from the core count (llama.cpp), 1 elsewhere
    workers: StrictInt | Literal["auto"] = "auto"
    threads: StrictInt | None = None  # per worker

    @property
    def options(self) -> dict[str, Any]:
        """The engine's own options (its constructor arguments besides `model`)."""
        return dict(self.model_extra or {})

    def key(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True, default=str)

    def with_secrets(self) -> "BackendConfig":
        """This block with every `NAME_env: VAR` read from the environment. Read where the run starts, so that
        workers in other processes or on other machines get the value without having VAR themselves."""
        return BackendConfig.model_validate(read_secrets(self.model_dump()))


class RayConfig(Strict):
    """Where and how wide `executor: ray` runs. Does not change the records, so not part of the fingerprint."""

    address: str | None = None  # an existing cluster ("auto", "ray://head:10001"); else RAY_ADDRESS; else a local one
    workers: int | Literal["auto"] = Field("auto", description="backend actors; auto: as many as the resources fit")
    num_cpus_per_worker: float = Field(1, gt=0)
    num_gpus_per_worker: float | None = Field(None, ge=0, description="default: tensor_parallel_size for vllm, else 0")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a Ray instance started here (default: all)")
    max_restarts: int = Field(3, ge=0, description="times a dead actor is restarted; its calls are retried")


class CacheConfig(Strict):
    """The call cache (datagen/cache.py). Does not change the records, so not part of the fingerprint."""

    enabled: bool = True
    path: str | None = Field(None, description="SQLite file; default: <output_dir>/.cache/calls.sqlite")
    max_size_mb: float | None = Field(2048, gt=0, description="oldest answers are dropped past this size")


class PluginSpec(BaseModel):
    """A generator or filter block: `type` picks the plugin; other keys are its parameters (validated against its
    Params model)."""

    model_config = ConfigDict(extra="allow")

    type: str
    name: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class GeneratorSpec(PluginSpec):
    count: StrictInt = Field(100, ge=1, description="records to generate (before filtering)")
    batch_size: StrictInt = Field(16, ge=1, description="records per shard / per model call batch")
    backend: BackendConfig | None = None


class FilterSpec(PluginSpec):
    backend: BackendConfig | None = None


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    seed: StrictInt = 0
    output_dir: str = "outputs"
    executor: Literal["local", "ray"] = "local"
    ray: RayConfig = Field(default_factory=RayConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    generators: list[GeneratorSpec] = Field(min_length=1)
    filters: list[FilterSpec] = Field(default_factory=list)
    # stage blocks (train, evaluate, publish, report) arrive as extra keys, checked against STAGES
    _source: Path | None = PrivateAttr(None)  # the YAML file, for error messages and relative paths

    @property
    def source(self) -> Path | None:
        return self._source

    @field_validator("name")
    @classmethod
    def _not_a_parent(cls, name: str) -> str:
        if set(name) == {"."}:
            raise ValueError("must name a folder inside output_dir, not '.' or '..'")
        return name

    @model_validator(mode="after")
    def _label(self) -> "PipelineConfig":
        for kind, specs in (("generator", self.generators), ("filter", self.filters)):
            seen: dict[str, int] = {}
            for i, spec in enumerate(specs):
                spec.name = spec.name or spec.type
                if spec.name in seen:
                    raise ValueError(f"{kind}s {seen[spec.name]} and {i} are both named {spec.name!r}; "
                                     f"give each a distinct `name`")
                seen[spec.name] = i
        return self

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        """Stage blocks in pipeline order (train -> evaluate -> publish -> report)."""
        extra = self.model_extra or {}
        order = ["train", "evaluate", "publish", "report"]
        return {k: (extra[k] or {}) for k in sorted(extra, key=lambda k: order.index(k) if k in order else 99)}

    def public(self) -> dict[str, Any]:
        """The config as written to config.yaml: secrets redacted."""
        return redact(self.model_dump(mode="json"))


# --- validation of the per-plugin parameter blocks ---------------------------------------------

def params_model(cls: type) -> type[BaseModel]:
    """A plugin's Params model; for backends, one built from the constructor's signature."""
    if hasattr(cls, "Params"):
        return cls.Params
    hints = typing.get_type_hints(cls.__init__)
    fields: dict[str, Any] = {}
    for pname, p in inspect.signature(cls.__init__).parameters.items():
        if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[pname] = (hints.get(pname, Any), default)
    return create_model(f"{cls.__name__}Options", __config__=ConfigDict(extra="forbid"), **fields)


def _check_params(registry: Registry, type_name: str, params: dict, where: str, source: str,
                  drop: tuple[str, ...] = ()) -> None:
    try:
        cls = registry.get(type_name)
    except KeyError as err:
        raise ConfigError(f"{source}: {where}.type: {err.args[0]}") from None
    model = params_model(cls)
    try:
        model.model_validate({k: v for k, v in params.items() if k not in drop})
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, where)) from None


def _format_errors(err: ValidationError, source: str, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = "unknown key (not a setting here)" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{source}: {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def check_backend(backend: BackendConfig, where: str, source: str) -> None:
    options = {"model": backend.model, **backend.options}
    redact(options)  # remember its secrets, so no error message shows them
    options = env_stand_ins(options, f"{source}: {where}")
    # workers/threads are the runner's; threads is passed on only where the engine takes it
    _check_params(BACKENDS, backend.type, options, where, source)


def _check_stage_backends(stage: str, block: dict, source: str) -> None:
    """A stage's own backend blocks (e.g. evaluate.judge_backend) are checked like the pipeline's."""
    for key, value in block.items():
        if (key == "backend" or key.endswith("_backend")) and isinstance(value, dict):
            try:
                backend = BackendConfig.model_validate(value)
            except ValidationError as err:
                raise ConfigError(_format_errors(err, source, f"{stage}.{key}")) from None
            check_backend(backend, f"{stage}.{key}", source)


def validate_config(data: Any, source: str = "<config>") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the pipeline file must be a YAML mapping, got {type(data).__name__}")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None
    check_backend(config.backend, "backend", source)
    for i, spec in enumerate(config.generators):
        _check_params(GENERATORS, spec.type, spec.params, f"generators.{i}", source)
        if spec.backend:
            check_backend(spec.backend, f"generators.{i}.backend", source)
    for i, spec in enumerate(config.filters):
        _check_params(FILTERS, spec.type, spec.params, f"filters.{i}", source)
        if spec.backend:
            check_backend(spec.backend, f"filters.{i}.backend", source)
    for stage, block in config.stages.items():
        if stage not in STAGES.names():
            raise ConfigError(f"{source}: {stage}: unknown key; top-level keys are "
                              f"{', '.join([*PipelineConfig.model_fields, *STAGES.names()])}")
        if not isinstance(block, dict):
            raise ConfigError(f"{source}: {stage}: must be a mapping of settings")
        _check_params(STAGES, stage, block, stage, source)
        _check_stage_backends(stage, block, source)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML with a duplicated key as an error (plain YAML lets the last one win silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, typing.Hashable) and key in seen:
                raise ConfigError(f"line {line}: key {key!r} appears twice (first on line {seen[key]})")
            if isinstance(key, typing.Hashable):
                seen[key] = line
        return super().construct_mapping(node, deep)


def read_text(path: Path, what: str = "file") -> str:
    """A text file's contents, with a one-line error naming it when it is missing, a folder or not UTF-8."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}: {err.object[err.start:err.start + 1]!r})") \
            from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    path = Path(path)
    text = read_text(path, "pipeline file")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if isinstance(data, dict) and overrides:
        data = {**data, **overrides}
    config = validate_config(data, str(path))
    config._source = path
    return config


def resolve_path(value: str | Path, config: PipelineConfig | None = None, key: str = "path") -> Path:
    """Find a file named in a config: as given (absolute or from the working directory), next to the config
    file, or in the project folder (for the bundled seeds/)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        source = config.source if config is not None else None
        candidates = [Path.cwd() / path, *([source.parent / path] if source else [])]
        bundled = (PROJECT_ROOT / path).resolve()
        if bundled.is_relative_to(PROJECT_ROOT):  # the fallback serves the project's own files, nothing above it
            candidates.append(bundled)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    where = f"{config.source}: " if config is not None and config.source else ""
    raise ConfigError(f"{where}{key}: file not found: {value} (looked in {', '.join(str(c.parent) for c in candidates)})")
