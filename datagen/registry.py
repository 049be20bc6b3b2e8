"""Name -> class registries for the extension points (backends, generators, filters, stages).

Entries are "module:Class" strings, imported on first use, so that reading a config never loads torch or a
model library. Third-party packages can add entries through the entry-point group `datagen.<kind>s`.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self.entries = dict(entries)
        self._plugins_loaded = False

    def register(self, name: str, target: str | type) -> None:
        self.entries[name] = target

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self.entries)

    def get(self, name: str) -> Any:
        self._load_plugins()
        if name not in self.entries:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self.entries))}")
        target = self.entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self.entries[name] = target
        return target

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            for ep in entry_points(group=f"datagen.{self.kind}s"):
                self.entries.setdefault(ep.name, ep.value)


BACKENDS = Registry("backend", {
    "llamacpp": "datagen.backends.llamacpp:LlamaCppBackend",
    "transformers": "datagen.backends.hf:TransformersBackend",
    "vllm": "datagen.backends.vllm:VllmBackend",
    "openai": "datagen.backends.openai:OpenAIBackend",
})

GENERATORS = Registry("generator", {
    "answer": "datagen.generators.answer:Answer",
    "templates": "datagen.generators.templates:Templates",
    "import": "datagen.generators.importer:Importer",
    "identity": "datagen.generators.identity:Identity",
    "bonito": "datagen.generators.bonito:Bonito",
    "magpie": "datagen.generators.magpie:Magpie",
    "evol_instruct": "datagen.generators.evol:EvolInstruct",
    "self_instruct": "datagen.generators.self_instruct:SelfInstruct",
})

FILTERS = Registry("filter", {
    "length": "datagen.filters.length:LengthFilter",
    "dedup_exact": "datagen.filters.dedup_exact:DedupExact",
    "dedup_near": "datagen.filters.dedup_near:DedupNear",
    "dedup_semantic": "datagen.filters.dedup_semantic:DedupSemantic",
    "quality": "datagen.filters.quality:Quality",
    "judge": "datagen.filters.judge:Judge",
    "reward": "datagen.filters.reward:Reward",
    "safety": "datagen.filters.safety:Safety",
    "pii": "datagen.filters.pii:Pii",
    "decontam": "datagen.filters.decontam:Decontam",
    "arithmetic": "datagen.filters.arithmetic:Arithmetic",
    "code_check": "datagen.filters.code_check:CodeCheck",
    "links": "datagen.filters.links:Links",
    "refusal": "datagen.filters.refusal:Refusal",
})

STAGES = Registry("stage", {
    "train": "datagen.train:TrainStage",
    "evaluate": "datagen.evaluate:EvaluateStage",
    "publish": "datagen.publish:PublishStage",
    "report": "datagen.report:ReportStage",
})
