"""The dataset card (README.md of the Hub folder): YAML metadata through huggingface_hub's DatasetCardData,
body from page_templates/dataset_card.md.jinja, facts from the run folder (config.yaml, stats.json, records)."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData
from pydantic import Field

from datagen.run_folder import RunFolder
from datagen.secrets import redact
from datagen.stages import StageParams

TEMPLATE = Path(__file__).parent / "page_templates" / "dataset_card.md.jinja"

# the Hub's size_categories buckets, by upper bound
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]

COLUMNS = {
    "id": "content hash of the conversation (16 hex digits)",
    "messages": "the conversation: a list of {role, content}, roles system / user / assistant",
    "task_type": "task type given by the generator, if any",
    "category": "category given by the generator, if any",
    "generator": "the pipeline's generator that made the record",
    "model": "model id that wrote the record",
    "tags": "free-form tags",
    "scores": "scores given by the filters (missing: null)",
    "provenance": "JSON: generator parameters, backend, sampling, source items, batch, time",
    "verdicts": "JSON: every filter's verdict on the record",
    "metadata": "JSON: generator-specific extras (e.g. finish_reason)",
}

LIMITATIONS = [
    "Every instruction and response was written by a language model ({models}) and not reviewed by people; "
    "responses can be wrong, shallow or made up. Check the data before training on it.",
    "The filters are automatic heuristics: they lower, but do not remove, low-quality or near-duplicate records.",
    "The records inherit the biases and the knowledge cut-off of the model that wrote them, and its licence terms.",
]


class CardParams(StageParams):
    """What the card says besides the run's facts (the publish block holds these and the folder / upload keys)."""
    repo_id: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$", description="OWNER/NAME; none: folder only")
    license: str = Field("other", description="a Hub license id, e.g. apache-2.0, cc-by-4.0")
    language: list[str] = Field(default_factory=lambda: ["en"])
    task_categories: list[str] = Field(default_factory=lambda: ["text-generation"])
    tags: list[str] = Field(default_factory=list, description="added to: synthetic, sft, datagen, generator names")
    pretty_name: str | None = None
    description: str | None = Field(None, description="opening paragraph of the card")
    limitations: list[str] = Field(default_factory=list, description="added to the card's known limitations")
    examples: int = Field(3, ge=0, description="example records shown in the card")


def model_label(model: str | None) -> str:
    """A model id people can look up: the embedded model is recorded as 'embedded'."""
    from datagen.backends.embedded import EMBEDDED_FILE, EMBEDDED_NAME

    if model in ("", "embedded", None):
        return "unknown" if model is None else f"{EMBEDDED_NAME} ({EMBEDDED_FILE}, embedded)"
    return model


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "n>1T")


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    """A code fence longer than any backtick run inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def card_data(run_name: str, params: CardParams, splits: dict[str, int], generators: list[str],
              dataset_info: dict[str, Any] | None = None) -> DatasetCardData:
    data_files = [{"split": name, "path": f"data/{name}-*"} for name in splits]
    tags = list(dict.fromkeys(["synthetic", "sft", "datagen", *generators, *params.tags]))
    return DatasetCardData(
        license=params.license, language=params.language, task_categories=params.task_categories,
        size_categories=[size_category(sum(splits.values()))], tags=tags,
        pretty_name=params.pretty_name or run_name,
        configs=[{"config_name": "default", "data_files": data_files}],
        **({"dataset_info": dataset_info} if dataset_info else {}),
    )


def build_card(run: RunFolder, params: CardParams, splits: dict[str, int],
               score_names: list[str], dataset_info: dict[str, Any] | None = None) -> DatasetCard:
    config = redact(run.config())  # runs written before redaction may hold secrets
    stats = run.stats()
    run_name = config.get("name") or run.path.name
    gen_stats = stats.get("generators", {})
    generators = [{"name": g.get("name") or g["type"], "type": g["type"], "count": g.get("count"),
                   "kept": gen_stats.get(g.get("name") or g["type"], {}).get("kept", "-"),
                   "params": _cell({k: v for k, v in g.items() if k not in ("type", "name", "count", "backend")})}
                  for g in config.get("generators", [])]
    models: Counter[str] = Counter()
    sampling: Counter[str] = Counter()
    examples = []
    for r in run.records():
        models[model_label(r.provenance.model)] += 1
        settings = {k: v for k, v in (r.provenance.sampling or {}).items() if k != "seed"}  # seed: per batch
        sampling[f"{r.provenance.generator}: {json.dumps(settings, sort_keys=True)}"] += 1
        if len(examples) < params.examples:
            examples.append({"id": r.id, "generator": r.provenance.generator, "task_type": r.task_type,
                             "messages": [{"role": m.role, "content": m.content, "fence": _fence(m.content)}
                                          for m in r.messages]})
    data = card_data(run_name, params, splits, sorted({g["type"] for g in generators}), dataset_info)
    backend = config.get("backend", {})
    limitations = [line.format(models=", ".join(models)) for line in LIMITATIONS] + list(params.limitations)
    return DatasetCard.from_template(
        data, template_path=str(TEMPLATE),
        run_name=run_name, repo_id=params.repo_id or f"OWNER/{run_name}",
        description=params.description or config.get("description") or
        f"A synthetic instruction-tuning (SFT) dataset of {sum(splits.values())} conversations.",
        splits=splits, total_rows=sum(splits.values()), seed=config.get("seed"),
        backend=f"{backend.get('type', '?')}: {model_label(backend.get('model', 'embedded'))}",
        models=dict(models.most_common()), sampling=dict(sampling.most_common()),
        generators=generators, config_yaml=yaml.safe_dump(config, sort_keys=False).strip(),
        funnel=funnel_rows(stats), funnel_intro=funnel_intro(stats),
        discarded={k: v for g in gen_stats.values() for k, v in g.get("discarded", {}).items()},
        columns={k: v for k, v in COLUMNS.items() if k != "scores" or score_names},
        examples=examples, limitations=limitations,
    )


def funnel_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"name": "generated", "in": stats.get("generated", 0), "out": stats.get("generated", 0),
             "rejected": 0, "reasons": ""}]
    for name, f in stats.get("filters", {}).items():
        reasons = ", ".join(f"{r}: {n}" for r, n in list(f.get("reasons", {}).items())[:3])
        rows.append({"name": f"filter `{name}`", "in": f["in"], "out": f["out"],
                     "rejected": f.get("rejected", f["in"] - f["out"]), "reasons": _cell(reasons)})
    rows.append({"name": "**kept**", "in": "", "out": stats.get("kept", 0), "rejected": stats.get("rejected", 0),
                 "reasons": ""})
    return rows


def funnel_intro(stats: dict[str, Any]) -> str:
    generated, kept = stats.get("generated", 0), stats.get("kept", 0)
    share = f"{100 * kept / generated:.1f}%" if generated else "n/a"
    return (f"{generated} records were generated; {kept} ({share}) passed every filter. Each filter sees only "
            f"the records the filters before it kept.")
