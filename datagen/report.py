"""A look at a run folder: `datagen report` (static HTML + Markdown page with PNG charts) and `datagen inspect`
(a summary in the terminal). Both only read the folder.

    <run>/report/index.html, report.md, *.png
"""
from __future__ import annotations

import argparse
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import jinja2
from pydantic import Field

from datagen import plots
from datagen.card import model_label
from datagen.run_folder import RunFolder
from datagen.records import Record
from datagen.secrets import redact
from datagen.stages import Stage, StageParams

TEMPLATES = Path(__file__).parent / "page_templates"
REJECTED_PER_REASON = 3  # rejected examples shown per filter reason

# words that open an instruction without saying what it asks for
FILLER = {"please", "kindly", "can", "could", "would", "will", "you", "i", "now", "also", "then", "so", "ok", "okay"}
QUESTION = {"what", "why", "how", "who", "whom", "when", "where", "which", "whose", "is", "are", "do", "does",
            "did", "should", "was", "were", "has", "have"}
STOP = {"a", "an", "the", "me", "us", "my", "your", "our", "some", "of", "to", "about", "for", "this", "that",
        "these", "those", "it", "its", "in", "on", "with", "and", "or", "one", "two", "three", "four", "five",
        "short", "brief", "few", "list", "up"}


class ReportParams(StageParams):
    out: str | None = Field(None, description="folder for the page and charts (default: <run>/report)")
    samples: int = Field(20, ge=0, description="sample records in the table")
    tokenizer: Literal["auto", "embedded", "words"] = Field(
        "auto", description="lengths in the embedded model's tokens (auto: when it loads) or in words")
    seed: int = 0


# -- lengths -------------------------------------------------------------------------------------

def token_counter(kind: str = "auto") -> tuple[Callable[[str], int], str]:
    """(count function, unit label). The embedded model's tokenizer loads in about a second (vocab only)."""
    if kind != "words":
        try:
            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr

            from datagen.backends.embedded import EMBEDDED_NAME, embedded_gguf

            with suppress_stdout_stderr(disable=False):
                vocab = Llama(model_path=str(embedded_gguf()), vocab_only=True, verbose=False)
            return (lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)),
                    f"tokens ({EMBEDDED_NAME} tokenizer)")
        except (ImportError, FileNotFoundError, ValueError, RuntimeError) as err:
            if kind == "embedded":
                raise ValueError(f"report.tokenizer: embedded: the tokenizer did not load: {err}") from None
    return (lambda text: len(text.split())), "words (whitespace-separated)"


# -- diversity -----------------------------------------------------------------------------------

def lead_words(instruction: str) -> tuple[str, str | None]:
    """(first meaningful word, verb + object) of an instruction, by a word heuristic: fillers like 'please' or
    'can you' are skipped; a question word counts as the verb with a '?' mark; the object is the next word that is
    not a stop word."""
    words = re.findall(r"[a-z][a-z'-]*", instruction.lower())
    while words and words[0] in FILLER:
        words = words[1:]
    if not words:
        return "(none)", None
    verb = words[0] + ("?" if words[0] in QUESTION else "")
    obj = next((w for w in words[1:] if w not in STOP and w not in QUESTION), None)
    return verb, f"{verb} {obj}" if obj else None


# -- gathering -----------------------------------------------------------------------------------

@dataclass
class RunSummary:
    name: str
    stats: dict[str, Any]
    config: dict[str, Any]
    kept: int = 0
    per_generator: Counter = field(default_factory=Counter)
    per_task_type: Counter = field(default_factory=Counter)
    first_words: Counter = field(default_factory=Counter)
    verb_objects: Counter = field(default_factory=Counter)
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    instruction_lengths: list[int] = field(default_factory=list)
    response_lengths: list[int] = field(default_factory=list)
    turns: Counter = field(default_factory=Counter)
    samples: list[Record] = field(default_factory=list)
    rejected: dict[str, list[Record]] = field(default_factory=dict)  # "filter: reason" -> the first few

    def funnel(self) -> list[tuple[str, int]]:
        steps = [("generated", self.stats.get("generated", 0))]
        steps += [(f"after {name}", f["out"]) for name, f in self.stats.get("filters", {}).items()]
        return steps


def summarize_run(run_dir: str | Path, count: Callable[[str], int] | None = None, samples: int = 20,
                  seed: int = 0) -> RunSummary:
    """One pass over the kept records. Without `count`, no lengths are measured."""
    run = RunFolder(run_dir).require()
    config = redact(run.config())  # runs written before redaction may hold secrets
    stats = run.stats()
    summary = RunSummary(name=config.get("name") or run.path.name, stats=stats, config=config)
    rng = random.Random(seed)
    for i, r in enumerate(run.records()):
        summary.kept += 1
        summary.per_generator[r.provenance.generator] += 1
        summary.per_task_type[r.task_type or "(none)"] += 1
        first, pair = lead_words(r.instruction)
        summary.first_words[first] += 1
        if pair:
            summary.verb_objects[pair] += 1
        for key, value in r.scores.items():
            summary.scores[key].append(value)
        summary.turns[sum(m.role == "user" for m in r.messages)] += 1
        if count:
            summary.instruction_lengths.append(count(r.instruction))
            summary.response_lengths.append(count(r.response))
        # reservoir sample: an even pick over the whole run in one pass
        if len(summary.samples) < samples:
            summary.samples.append(r)
        elif samples and (j := rng.randrange(i + 1)) < samples:
            summary.samples[j] = r
    for r in run.rejects():  # a few per reason, so a user sees why records were dropped
        if (v := r.rejection()) is not None:
            examples = summary.rejected.setdefault(f"{v.filter}: {v.reason}", [])
            if len(examples) < REJECTED_PER_REASON:
                examples.append(r)
    return summary


# -- the page ------------------------------------------------------------------------------------

def draw(summary: RunSummary, folder: Path, unit: str) -> dict[str, str]:
    """Every chart that has data: {key: png file name}."""
    charts = {
        "generators": plots.bars(dict(summary.per_generator), "Records per generator", folder, "generators.png"),
        "task_types": plots.bars(dict(summary.per_task_type), "Records per task type", folder, "task_types.png"),
        "lengths": plots.histograms({"instructions": summary.instruction_lengths,
                                     "responses": summary.response_lengths},
                                    "Length of the first instruction and the last response", unit, folder,
                                    "lengths.png"),
        "funnel": plots.funnel(summary.funnel(), "Filter funnel", folder, "funnel.png"),
        "scores": plots.score_histograms(dict(summary.scores), folder, "scores.png"),
        "first_words": plots.bars(dict(summary.first_words.most_common(15)),
                                  "Top first words of instructions ('?' marks a question)", folder, "first_words.png"),
        "verb_objects": plots.bars(dict(summary.verb_objects.most_common(20)),
                                   "Top verb + object pairs of instructions", folder, "verb_objects.png"),
    }
    return {k: v for k, v in charts.items() if v}


def _clip(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def page_context(summary: RunSummary, charts: dict[str, str], unit: str) -> dict[str, Any]:
    stats = summary.stats
    generators = [{"name": name, **{k: g.get(k, 0) for k in ("generated", "kept", "rejected", "tokens_per_s")},
                   "discarded": sum(g.get("discarded", {}).values())}
                  for name, g in stats.get("generators", {}).items()]
    filters = [{"name": name, "in": f["in"], "out": f["out"], "rejected": f.get("rejected", f["in"] - f["out"]),
                "reasons": ", ".join(f"{r}: {n}" for r, n in list(f.get("reasons", {}).items())[:4])}
               for name, f in stats.get("filters", {}).items()]
    samples = [{"id": r.id, "generator": r.provenance.generator, "task_type": r.task_type or "",
                "turns": sum(m.role == "user" for m in r.messages), "instruction": _clip(r.instruction),
                "response": _clip(r.response), "scores": ", ".join(f"{k}={v:g}" for k, v in r.scores.items())}
               for r in summary.samples]
    rejected = [{"reason": reason, "examples": [{"id": r.id, "instruction": _clip(r.instruction, 300),
                                                 "response": _clip(r.response, 300)} for r in records]}
                for reason, records in sorted(summary.rejected.items())]
    lengths = {}
    for label, values in (("instruction", summary.instruction_lengths), ("response", summary.response_lengths)):
        if values:
            ordered = sorted(values)
            lengths[label] = {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1],
                              "mean": round(sum(ordered) / len(ordered), 1)}
    return {"name": summary.name, "stats": stats, "kept": summary.kept, "generators": generators,
            "filters": filters, "charts": charts, "samples": samples, "rejected": rejected, "unit": unit, "lengths": lengths,
            "score_names": sorted(summary.scores), "multi_turn": sum(n for t, n in summary.turns.items() if t > 1),
            "distinct_first_words": len(summary.first_words), "distinct_pairs": len(summary.verb_objects),
            "model": model_label((summary.config.get("backend") or {}).get("model", "embedded"))}


def md_cell(text: Any) -> str:
    """Text safe in a Markdown table cell (pipes, line breaks and HTML characters escaped)."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render(context: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    loader = jinja2.FileSystemLoader(TEMPLATES)
    html_env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    md_env = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined)
    md_env.filters["cell"] = md_cell
    html, md = folder / "index.html", folder / "report.md"
    html.write_text(html_env.get_template("report.html.jinja").render(**context), encoding="utf-8")
    md.write_text(md_env.get_template("report.md.jinja").render(**context), encoding="utf-8")
    return html, md


def write_report(run_dir: str | Path, params: ReportParams | None = None) -> dict[str, Any]:
    params = params or ReportParams()
    folder = Path(params.out) if params.out else RunFolder(run_dir).report
    count, unit = token_counter(params.tokenizer)
    summary = summarize_run(run_dir, count, params.samples, params.seed)
    charts = draw(summary, folder, unit)
    html, md = render(page_context(summary, charts, unit), folder)
    return {"html": str(html), "markdown": str(md), "charts": sorted(charts.values()), "records": summary.kept,
            "length_unit": unit}


class ReportStage(Stage):
    name = "report"
    Params = ReportParams

    def run(self) -> dict[str, Any]:
        return write_report(self.ctx.run_dir, self.params)


# -- the terminal view ---------------------------------------------------------------------------

def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def inspect_text(run_dir: str | Path, records: int = 3, width: int = 100) -> str:
    summary = summarize_run(run_dir, samples=records)
    stats = summary.stats
    out = [f"run {summary.name}: {stats.get('generated', 0)} generated, {stats.get('kept', 0)} kept, "
           f"{stats.get('rejected', 0)} rejected", ""]
    gens = stats.get("generators", {})
    out.append(table([[n, g.get("generated", 0), g.get("kept", 0), g.get("rejected", 0),
                       sum(g.get("discarded", {}).values()), g.get("tokens_per_s", 0)] for n, g in gens.items()],
                     ["generator", "generated", "kept", "rejected", "discarded", "tokens/s"]))
    if stats.get("filters"):
        out += ["", table([[n, f["in"], f["out"], f.get("rejected", f["in"] - f["out"]),
                            ", ".join(list(f.get("reasons", {}))[:2])] for n, f in stats["filters"].items()],
                          ["filter", "in", "out", "rejected", "top reasons"])]
    if summary.per_task_type:
        out += ["", table([[k, v] for k, v in summary.per_task_type.most_common()], ["task type", "records"])]
    if summary.scores:
        out += ["", table([[k, len(v), f"{min(v):g}", f"{sum(v) / len(v):.3g}", f"{max(v):g}"]
                           for k, v in sorted(summary.scores.items())], ["score", "n", "min", "mean", "max"])]
    for r in summary.samples:
        out += ["", f"--- {r.id} ({r.provenance.generator}{', ' + r.task_type if r.task_type else ''})"]
        out += [f"{m.role:>9}: {_clip(m.content, width * 3)}" for m in r.messages]
    return "\n".join(out)


def cmd_inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="datagen inspect", description="Summary table and a few records.")
    parser.add_argument("output_dir", help="a run folder, e.g. outputs/quickstart")
    parser.add_argument("--records", type=int, default=3, help="records to show")
    args = parser.parse_args(argv)
    print(inspect_text(args.output_dir, args.records))
    return 0
