import json

import pytest

from datagen.config import validate_config
from datagen.filters.base import FilterContext
from datagen.filters.dedup_exact import DedupExact
from datagen.filters.dedup_near import DedupNear
from datagen.pipeline import run_pipeline
from datagen.records import Provenance, make_record

PROV = Provenance(generator="test")


def rec(instruction, response="Here is a helpful answer.", **kw):
    return make_record(instruction, response, PROV, **kw)


def verdicts(records):
    return [(r.verdicts[-1].keep, r.verdicts[-1].details.get("duplicate_of")) for r in records]


def test_exact_dedup_catches_form_variants_and_names_the_first():
    f = DedupExact(DedupExact.Params(fields="instruction"), FilterContext("dedup_exact"))
    first = rec("Explain why the sky is blue.")
    variants = [rec("explain WHY the sky is blue!"), rec("Explain  why the sky\u00a0is blue ."),
                rec("ＥＸＰＬＡＩＮ why the sky is blue")]  # full-width letters fold under NFKC
    other = rec("Explain why the sea is blue.")
    out = f.apply([first, *variants, other])
    assert verdicts(out) == [(True, None)] + [(False, first.id)] * 3 + [(True, None)]
    assert out[1].verdicts[-1].reason == "exact duplicate"  # one funnel line; the id is in details


def test_exact_dedup_conversation_field_sees_answers():
    f = DedupExact(DedupExact.Params(fields="conversation"), FilterContext("dedup_exact"))
    out = f.apply([rec("Name a color.", "Red."), rec("Name a color.", "Blue."), rec("name a colour", "Red.")])
    assert [r.verdicts[-1].keep for r in out] == [True, True, True]


PLANTED = [
    ("Write a short guide about urban gardening for busy parents in five bullet points.",
     "Write a short guide about urban gardening for very busy parents in five bullet points."),
    ("Compare two popular approaches to learning a new language as an adult with a full time job.",
     "Compare two popular approaches to learning a new language as an adult with a full-time job."),
    ("Draft a friendly email inviting the whole team to a picnic in the park next Saturday afternoon.",
     "Draft a friendly email inviting the team to a picnic in the park next Saturday afternoon."),
    ("Explain how solar panels turn sunlight into electricity using simple language for children.",
     "Explain how solar panels turn sunlight into electricity using simple language for kids."),
]
DISTINCT = [
    "Write a haiku about autumn leaves.",
    "What is the difference between a list and a tuple in Python?",
    "Suggest a name for a bakery that specializes in sourdough bread.",
    "Give three tips for staying focused while studying.",
    "Write a short guide about home insulation for retirees with a clear summary.",
    "Explain how wind turbines turn moving air into electricity for high school students.",
]


def test_near_dedup_catches_planted_edits_and_keeps_distinct():
    f = DedupNear(DedupNear.Params(), FilterContext("dedup_near"))
    originals = [rec(a) for a, _ in PLANTED]
    copies = [rec(b) for _, b in PLANTED]
    distinct = [rec(t) for t in DISTINCT]
    out = f.apply(originals + distinct + copies)
    assert all(r.verdicts[-1].keep for r in out[:len(originals) + len(distinct)])
    assert [r.verdicts[-1].details["duplicate_of"] for r in out[-len(copies):]] == [r.id for r in originals]


INVISIBLE = ["\u200b", "\u200d", "\u00ad", "\u2060", "\ufeff"]  # zero-width space / joiner, soft hyphen, ...


def hide_in_words(text, mark):
    return " ".join(w[:2] + mark + w[2:] if len(w) > 2 else w for w in text.split())


@pytest.mark.parametrize("mark", INVISIBLE)
def test_invisible_characters_do_not_defeat_either_dedup(mark):
    original = PLANTED[0][0]
    hidden = hide_in_words(original, mark)
    assert hidden != original and len(hidden.split()) == len(original.split())
    for cls in (DedupExact, DedupNear):
        f = cls(cls.Params(fields="instruction"), FilterContext(cls.name))
        first, copy = rec(original), rec(hidden)
        out = f.apply([first, copy, rec(DISTINCT[0])])
        assert verdicts(out) == [(True, None), (False, first.id), (True, None)], cls.name


def test_near_dedup_state_spans_batches_and_warm_start():
    params = DedupNear.Params(threshold=0.7, num_perm=128, bands=32, rows=4)
    f = DedupNear(params, FilterContext("dedup_near"))
    first = f.apply([rec(PLANTED[0][0])])
    second = f.apply([rec(PLANTED[0][1])])  # a later shard
    assert second[0].verdicts[-1].details["duplicate_of"] == first[0].id
    fresh = DedupNear(params, FilterContext("dedup_near"))  # a resumed run
    fresh.warm_start(first)
    verdict = fresh.apply([rec(PLANTED[0][1])])[0].verdicts[-1]
    assert (verdict.reason, verdict.details["duplicate_of"]) == ("near duplicate", first[0].id)


def test_near_dedup_rejects_bad_band_layout():
    with pytest.raises(ValueError, match="exceeds num_perm"):
        DedupNear.Params(num_perm=32, bands=10, rows=4)


def test_dedup_across_shards_and_a_resumed_run(run_in):
    config = validate_config({
        "name": "dedup-resume", "seed": 3,
        "backend": {"type": "llamacpp", "model": "embedded", "workers": 1, "threads": 2},
        "generators": [{"type": "answer", "count": 4, "batch_size": 2, "temperature": 0.0, "max_tokens": 12,
                        "instructions": ["Name a primary color for me.", "Write a haiku about the sea.",
                                         "name a PRIMARY colour for me?", "Write a haiku about the sea!"]}],
        "filters": [{"type": "dedup_exact", "fields": "instruction"},
                    {"type": "dedup_near", "fields": "instruction", "ngram": 1, "threshold": 0.5}],
    })
    first = run_pipeline(config, quiet=True)
    shards = sorted((first.path / "shards").iterdir())
    assert len(shards) == 2
    rejects = [json.loads(l) for l in (first.path / "rejects" / f"{shards[1].stem}.jsonl").read_text().splitlines()]
    kept0 = [json.loads(l) for l in (first.path / "records" / f"{shards[0].stem}.jsonl").read_text().splitlines()]
    reasons = sorted((r["verdicts"][-1]["reason"], r["verdicts"][-1]["details"]["duplicate_of"]) for r in rejects)
    assert reasons == sorted([("exact duplicate", kept0[1]["id"]), ("near duplicate", kept0[0]["id"])])

    # interrupt: drop the second shard, resume; the duplicates must still be caught from the first shard
    for kind in ("shards", "records", "rejects"):
        for path in (first.path / kind).glob(f"{shards[1].stem}.*"):
            path.unlink()
    again = run_pipeline(config, quiet=True)
    assert again.stats["filters"]["dedup_exact"]["rejected"] == 1
    assert again.stats["filters"]["dedup_near"]["rejected"] == 1
    assert again.stats["kept"] == 2
