"""The `train` stage: SFT on a run folder's kept records (see trainer.py)."""
from __future__ import annotations

from typing import Any

from datagen.stages import Stage
from datagen.train.params import TrainParams


class TrainStage(Stage):
    name = "train"
    Params = TrainParams

    def run(self) -> dict[str, Any]:
        from datagen.train.data import load_records
        from datagen.train.trainer import train_records

        p = self.params
        source = self.ctx.resolve_path(p.data, "train.data") if p.data else self.ctx.folder.require().path
        records = load_records(source, p.data_format)
        return train_records(p, records, self.ctx.folder.train.path,
                             log=(lambda s: None) if self.ctx.quiet else print)
