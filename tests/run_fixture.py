"""A small finished run folder written by hand (no model): two generators, a filter funnel with rejects,
scores on some records, and text that needs escaping in HTML and Markdown."""
from __future__ import annotations

from pathlib import Path

from datagen.run_folder import RunFolder
from datagen.records import Message, Provenance, Record, Verdict, make_record

VERBS = ["Explain", "Write", "List", "Describe", "Summarize", "Give", "What", "How"]
OBJECTS = ["a poem", "photosynthesis", "three tips", "the water cycle", "a recipe", "a story"]


def _record(i: int, generator: str, keep: bool, scored: bool = True) -> Record:
    instruction = f"{VERBS[i % len(VERBS)]} {OBJECTS[i % len(OBJECTS)]} number {i}" + " in detail" * (i % 4)
    response = " ".join(f"word{j}" for j in range(5 + 7 * (i % 6)))
    if i == 3:
        response = "Use <script>alert('x')</script> & a | pipe\nand ```code``` fences"
    sampling = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 64, "seed": i}
    prov = Provenance(generator=generator, backend="llamacpp", model="SmolLM2-135M-Instruct",
                      sampling=sampling, sources=[f"seed:{i}"], run="fixture", batch=i // 4)
    scores = {"quality": round(0.1 * (i % 10), 2)} if i % 2 == 0 else {}
    if i % 3 == 0:
        scores["reward"] = float(i % 5)
    scores = scores if scored else {}
    record = make_record(instruction, response, prov, task_type=["qa", "writing"][i % 2],
                         category="general", scores=scores, metadata={"finish_reason": "stop"})
    record.verdicts.append(Verdict(filter="length", keep=keep, reason=None if keep else "response too short"))
    if i == 5:  # one multi-turn record with a system prompt
        record = record.with_messages([Message(role="system", content="Be brief."), *record.messages,
                                       Message(role="user", content="And again?"),
                                       Message(role="assistant", content="Once more, briefly.")])
    return record


def make_run(path: Path, n: int = 24, per_shard: int = 6, scored: bool = True) -> RunFolder:
    """Write `n` generated records (every 5th rejected) in shards of `per_shard`, then stats.json."""
    folder = RunFolder(path)
    config = {"name": "fixture", "description": "", "seed": 3, "output_dir": str(path.parent),
              "backend": {"type": "llamacpp", "model": "embedded", "workers": 1},
              "generators": [{"type": "answer", "name": "answer", "count": n // 2, "batch_size": per_shard,
                              "file": "seeds/instructions.txt", "temperature": 0.7},
                             {"type": "answer", "name": "answer_b", "count": n - n // 2, "batch_size": per_shard,
                              "instructions": ["x"]}],
              "filters": [{"type": "length", "name": "length", "min_response_words": 3}]}
    folder.write_json("run.json", {"name": "fixture", "fingerprint": "0" * 16, "source": ""})
    folder.write_config(config)
    for start in range(0, n, per_shard):
        generator, index = ("answer", 0) if start < n // 2 else ("answer_b", 1)
        records = [_record(i, generator, keep=i % 5 != 4, scored=scored) for i in range(start, min(n, start + per_shard))]
        kept = [r for r in records if r.kept]
        rejected = [r for r in records if not r.kept]
        name = f"{index:02d}-{generator}-{start // per_shard:06d}"
        folder.write_shard(name, kept, rejected, {
            "shard": name, "generator": generator, "batch": start // per_shard, "generated": len(records),
            "kept": len(kept), "rejected": len(rejected), "discarded": {"empty response": 1} if start == 0 else {},
            "filters": {"length": {"in": len(records), "out": len(kept),
                                   "reasons": {"response too short": len(rejected)} if rejected else {}}},
            "prompt_tokens": 100, "completion_tokens": 300, "seconds": 1.5})
    folder.write_json("stats.json", {"run": "fixture", **folder.summarize(["length"])})
    return folder
