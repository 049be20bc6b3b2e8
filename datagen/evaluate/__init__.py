"""The `evaluate` stage: base vs tuned (and each ablation) with the same greedy decoding on labelled tasks never
trained on (held-out rows of trained task clusters, and whole held-out clusters: zero-shot transfer), IFEval,
held-out records (ROUGE-L), whether answers end by themselves and answer rather than continue the prompt, and an
LLM judge. Writes OUT/eval/{responses.jsonl, metrics.json, report.md, metrics.png}; every rate has n and a 95%
Wilson interval."""
from __future__ import annotations

import gc
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from datagen.evaluate.tasks import EvalTask
from datagen.run_folder import EVAL, EvalOutputs, TrainOutputs
from datagen.stages import Stage, StageParams

# a base model that keeps writing starts the prompt format over instead of answering
CONTINUES = re.compile(r"###\s*(Instruction|Response|Input)\b", re.I)


class EvaluateParams(StageParams):
    base_model: str | None = Field(None, description="default: the model the train stage started from")
    model: str | None = Field(None, description="score this model (folder, hub id or .gguf) as the tuned one, "
                                                "instead of the run's")
    folder: str = Field(EVAL, description="subfolder of the run folder for the results")
    prompt_style: Literal["chat", "alpaca"] | None = Field(None, description="default: the train stage's")
    max_new_tokens: int = 128
    batch_size: int = 8
    tasks: list[EvalTask] = Field(default_factory=list, description="labelled tasks scored by accuracy")
    task_max_new_tokens: int = Field(8, description="answer length for the labelled tasks")
    ablations: bool = Field(True, description="also score the train stage's ablations")
    max_heldout: int = Field(32, description="held-out records scored with ROUGE-L (and judged)")
    judge: bool = True
    judge_backend: dict[str, Any] | None = Field(None, description="backend block; default the pipeline's backend")
    max_judged: int = Field(24, description="records judged: held-out first, then validation")
    ifeval_prompts: str | None = "seeds/ifeval_prompts.jsonl"
    ifeval_limit: int | None = Field(None, ge=1, description="score the first N IFEval prompts only")
    threads: int | None = None


class EvaluateStage(Stage):
    name = "evaluate"
    Params = EvaluateParams

    def run(self) -> dict[str, Any]:
        import torch

        from datagen.evaluate import ifeval, tasks
        from datagen.evaluate.metrics_report import headline, write_report

        p = self.params
        if p.threads:
            torch.set_num_threads(p.threads)
        train_out, out = self.ctx.folder.train, self.ctx.folder.evaluation(p.folder)
        out.path.mkdir(parents=True, exist_ok=True)
        config = train_out.settings()
        trained = config.get("params", {})
        base_model = p.base_model or trained.get("model", "embedded")
        style = p.prompt_style or trained.get("prompt_style", "chat")
        models = self._models(base_model, train_out, config)

        # references only from data the model under test did not write
        held_records = train_out.heldout_records()
        candidates = held_records + train_out.validation_records()
        independent = [r for r in candidates if not written_by(r.provenance.model, base_model)]
        held_ids = {r.id for r in held_records}
        heldout = [r for r in independent if r.id in held_ids][:p.max_heldout]
        judged = independent[:p.max_judged] if p.judge else []
        refs = {r.id: r for r in heldout + judged}
        task_items = {t.label(): (t, tasks.load_items(t, self.ctx.resolve_path, f"evaluate.tasks.{i}"))
                      for i, t in enumerate(p.tasks)}
        prompts_if = self._ifeval(ifeval)
        open_prompts = [r.instruction for r in refs.values()] + [x["prompt"] for x in prompts_if]
        task_prompts = [item["prompt"] for _, items in task_items.values() for item in items]

        answers: dict[str, list[dict[str, Any]]] = {}
        for label, (model, adapter) in models.items():
            answers[label] = self._answers(model, adapter, style, task_prompts, open_prompts)

        n_ref, n_task = len(refs), len(task_prompts)
        metrics: dict[str, Any] = {}
        for label, ans in answers.items():
            tail = ans[n_task:]
            m: dict[str, Any] = {"stopped": {"share": sum(a["stopped"] for a in ans) / max(len(ans), 1),
                                             "n": len(ans)},
                                 "open_stopped": tasks.proportion(sum(a["stopped"] for a in tail), len(tail)),
                                 "open_answered": tasks.proportion(sum(answers_not_continues(a["text"])
                                                                       for a in tail), len(tail))}
            start, per_task, pooled = 0, {}, {"trained": [0, 0], "heldout": [0, 0]}
            for name, (task, items) in task_items.items():
                per_task[name] = {"cluster": task.cluster, "task_type": task.task_type,
                                  **tasks.score(items, ans[start:start + len(items)])}
                pooled[task.cluster][0] += per_task[name]["accuracy"]["k"]
                pooled[task.cluster][1] += len(items)
                start += len(items)
            if per_task:
                m["tasks"] = per_task
                m["trained_accuracy"] = tasks.proportion(*pooled["trained"])
                m["heldout_cluster_accuracy"] = tasks.proportion(*pooled["heldout"])
            by_id = {rid: a["text"] for rid, a in zip(refs, tail[:n_ref])}
            if heldout:
                from datagen import rouge

                scores = [rouge.rouge_l(by_id[r.id], r.response) for r in heldout]
                m["heldout"] = {"rouge_l": round(sum(scores) / len(scores), 4), "n": len(scores),
                                "task_types": sorted({r.task_type or "-" for r in heldout})}
            if prompts_if:
                m["ifeval"] = ifeval.score(prompts_if, [a["text"] for a in tail[n_ref:]])
            metrics[label] = m
        metrics["references"] = {"candidates": len(candidates), "written_by_model_under_test":
                                 len(candidates) - len(independent)}
        if judged:
            self._judge(metrics, answers, refs, judged, n_task)

        self._write_responses(out, task_items, list(refs.values()), prompts_if, answers)
        out.metrics.write_text(json.dumps(metrics, indent=1))
        header = [f"- base model: `{base_model}`; tuned: `{models['tuned'][0]}`"
                  + (f" + adapter `{models['tuned'][1]}`" if models["tuned"][1] else ""),
                  f"- prompt style: {style}; greedy decoding for every model; at most {p.task_max_new_tokens} new "
                  f"tokens on labelled tasks, {p.max_new_tokens} on open prompts",
                  f"- held-out task types: {', '.join(trained.get('holdout_task_types', [])) or 'none'}"
                  f" ({len(heldout)} records, never trained on)",
                  f"- references: {len(candidates) - len(independent)} of {len(candidates)} held-out/validation "
                  f"records were written by the model under test and are not used as references",
                  f"- judge: {self._judge_note(metrics, judged)}"]
        report = write_report(metrics, out, header, config.get("summary", {}))
        lines = headline(metrics, headline_judge=bool(p.judge_backend))  # printed by `datagen run` / `datagen eval`
        summary = {label: {k: v for k, v in m.items() if k in ("heldout", "stopped", "trained_accuracy",
                                                                  "heldout_cluster_accuracy")}
                   for label, m in metrics.items() if label in answers}
        for label in answers:
            summary[label]["judge_mean"] = (metrics[label].get("judge") or {}).get("mean")
            ife = metrics[label].get("ifeval") or {}
            summary[label]["ifeval"] = {k: ife.get(k) for k in ("prompt_strict", "prompt_loose",
                                                                "instruction_strict", "instruction_loose")}
        return {**summary, "report": str(report), "headline": lines}

    def _models(self, base_model: str, trained: TrainOutputs, config: dict) -> dict[str, tuple[str, str | None]]:
        """label -> (model, adapter): base, tuned, then each trained ablation."""
        p = self.params
        models = {"base": (base_model, None), "tuned": (p.model, None) if p.model else trained.model()}
        if p.ablations and not p.model:
            for name, ablation in trained.ablations().items():
                models[f"ablation:{name}"] = ablation.model()
                config.setdefault("summary", {}).setdefault("ablations", {})[name] = {
                    "changes": p_changes(config, name), **ablation.settings()["summary"]}
        return models

    def _answers(self, model: str, adapter: str | None, style: str, task_prompts: list[str],
                 open_prompts: list[str]) -> list[dict[str, Any]]:
        from datagen.evaluate.generate import generate, load_for_generation

        p = self.params
        net, tokenizer = load_for_generation(model, adapter, style)
        try:
            return (generate(net, tokenizer, task_prompts, p.task_max_new_tokens, p.batch_size)
                    + generate(net, tokenizer, open_prompts, p.max_new_tokens, p.batch_size))
        finally:
            del net
            gc.collect()

    def _ifeval(self, ifeval: Any) -> list[dict[str, Any]]:
        """The IFEval prompts to score (official file layout), the first `ifeval_limit` of them."""
        p = self.params
        if not p.ifeval_prompts:
            return []
        return ifeval.load_prompts(self.ctx.resolve_path(p.ifeval_prompts, "evaluate.ifeval_prompts"))[:p.ifeval_limit]

    def _judge(self, metrics: dict, answers: dict, refs: dict, judged: list, n_task: int) -> None:
        from datagen.evaluate import llm_judge as judge

        backend, owned = self._judge_backend()
        try:
            for label in answers:
                by_id = {rid: a["text"] for rid, a in zip(refs, answers[label][n_task:])}
                items = [{"question": r.instruction, "reference": r.response, "candidate": by_id[r.id]}
                         for r in judged]
                replies = judge.judge_replies(backend, items)
                scores = [judge.parse_score(r) for r in replies]
                metrics[label]["judge"] = {**judge.summarize(scores), "scores": scores, "replies": replies}
            metrics["judge_model"] = f"{backend.name}:{backend.model}"
        finally:
            if owned:  # one handed in by the pipeline is shared with its other steps, which close it
                backend.close()

    def _judge_note(self, metrics: dict, judged: list) -> str:
        if not judged:
            return "off"
        where = ("a separate judge_backend" if self.params.judge_backend else
                 "the pipeline's own backend, not stronger than the models under test: shown, not a headline")
        return f"{metrics.get('judge_model')} ({where}) on {len(judged)} records"

    @staticmethod
    def _write_responses(out: EvalOutputs, task_items: dict, refs: list, prompts_if: list, answers: dict) -> None:
        rows = [{"task": name, "prompt": item["prompt"], "reference": item["target"]}
                for name, (_, items) in task_items.items() for item in items]
        rows += [{"task": r.task_type, "prompt": r.instruction, "reference": r.response} for r in refs]
        rows += [{"task": "ifeval", "prompt": x["prompt"], "reference": None} for x in prompts_if]
        with open(out.responses, "w", encoding="utf-8") as fh:
            for i, row in enumerate(rows):
                fh.write(json.dumps({**row, **{label: ans[i] for label, ans in answers.items()}}) + "\n")

    def _judge_backend(self) -> tuple[Any, bool]:
        """(the judge's engine, whether this stage built it and so must close it)."""
        from datagen.backends import build_backend
        from datagen.config import BackendConfig

        spec = BackendConfig(**self.params.judge_backend) if self.params.judge_backend else None
        if self.ctx.backend_factory is not None:
            return self.ctx.backend_factory(spec), False
        return build_backend(spec or BackendConfig(workers=1)), True


def answers_not_continues(text: str) -> bool:
    """An answer, not a continuation of the prompt: some text, and no new instruction / response block."""
    return bool(text.strip()) and not CONTINUES.search(text)


def written_by(maker: str | None, base_model: str) -> bool:
    """Whether a record's provenance model (e.g. 'embedded:SmolLM2-135M-Instruct.Q4_1') is the base model under
    test (or its tune): its answers cannot serve as references for it."""
    made = (maker or "").lower()
    names = {base_model.lower(), Path(base_model).stem.lower()}
    if base_model in ("", "embedded"):
        names |= {"embedded", "smollm2-135m-instruct"}
    return bool(made) and any(name and name in made for name in names)


def p_changes(config: dict, name: str) -> dict:
    return ((config.get("params") or {}).get("ablations") or {}).get(name, {})
