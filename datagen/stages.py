"""The Stage interface: a step that reads a finished output folder (train, evaluate, publish, report).

Stages only read the run folder, so each also runs on its own from the CLI. A stage is a `Params` model (the
keys of its block in the pipeline YAML) and a `run()` returning a small summary for stats.json. Register it in
datagen/registry.py STAGES under the name of its YAML block.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

from datagen.backends.base import Backend
from datagen.run_folder import RunFolder


class StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class StageContext:
    run_dir: Path
    config: Any = None  # the PipelineConfig when run from a pipeline; None from the CLI
    quiet: bool = False
    # backend_factory(None) -> the pipeline's backend; backend_factory(BackendConfig) -> that engine
    backend_factory: Callable[..., Backend] | None = None
    resolve_path: Callable[[str, str], Path] = field(default=lambda value, key: Path(value))

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)


class Stage(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams

    def __init__(self, params: StageParams, ctx: StageContext) -> None:
        self.params = params
        self.ctx = ctx

    @abstractmethod
    def run(self) -> dict[str, Any]:
        """Do the work; return a JSON-able summary."""
