"""The trainer on a tiny randomly initialised Llama-style model with the embedded model's tokenizer."""
from __future__ import annotations

import pytest
from train_helpers import tiny_model_dir, toy_records

from datagen.records import Message, Provenance, Record

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tokenizer(tiny):
    from datagen.train.model import load_tokenizer

    return load_tokenizer(str(tiny))[0]


def params(tiny, **changes):
    from datagen.train.params import TrainParams

    base = dict(model=str(tiny), batch_size=4, validation_share=0.0, threads=2, logging_steps=1, seed=1)
    return TrainParams(**{**base, **changes})


def multi_turn() -> Record:
    return Record(provenance=Provenance(generator="test"), messages=[
        Message(role="system", content="Be brief."), Message(role="user", content="Hi there"),
        Message(role="assistant", content="Hello friend"), Message(role="user", content="Name a colour"),
        Message(role="assistant", content="Blue, the colour of the sky")])


def test_pad_token_is_not_eos_nor_end_of_turn(tokenizer):
    # the embedded tokenizer ships pad == eos == <|im_end|>: the end of turn would be hidden from the loss
    assert tokenizer.pad_token not in (tokenizer.eos_token, "<|im_end|>")
    assert tokenizer.pad_token_id != tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_labels_mask_exactly_the_non_assistant_tokens(tokenizer):
    from datagen.train.data import tokenize_record

    record = multi_turn()
    ex = tokenize_record(record, tokenizer, max_length=512)
    full = tokenizer.apply_chat_template([m.model_dump() for m in record.messages], tokenize=False)
    assert tokenizer.decode(ex["input_ids"]) == full
    # labelled tokens form exactly the two assistant turns, each with its end-of-turn token
    spans, current = [], []
    for token, label in zip(ex["input_ids"], ex["labels"]):
        assert label in (token, -100)
        if label == -100 and current:
            spans.append(tokenizer.decode(current))
            current = []
        elif label != -100:
            current.append(token)
    spans += [tokenizer.decode(current)] if current else []
    assert spans == ["Hello friend<|im_end|>\n", "Blue, the colour of the sky<|im_end|>\n"]
    everything = tokenize_record(record, tokenizer, max_length=512, train_on_all=True)
    assert everything["labels"] == everything["input_ids"]


def test_alpaca_template_for_a_base_model_ends_responses_with_eos(tiny):
    from transformers import AutoTokenizer

    from datagen.train.data import tokenize_record
    from datagen.train.model import prepare_tokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    tok.chat_template = None
    prepare_tokenizer(tok)
    ex = tokenize_record(toy_records(1)[0], tok, max_length=128)
    text = tok.decode(ex["input_ids"])
    assert "### Instruction:\nSay red.\n\n### Response:\n" in text
    labelled = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != -100]
    assert tok.eos_token_id in labelled and tok.decode(labelled).startswith("red")


def test_packing_merges_examples_and_keeps_every_label(tiny, tmp_path):
    from datagen.train.trainer import build_trainer

    records = toy_records(8) + [multi_turn()]
    plain, tok, _ = build_trainer(params(tiny, packing=False, max_length=128), records, [], tmp_path)
    packed, _, _ = build_trainer(params(tiny, packing=True, max_length=128), records, [], tmp_path)
    assert len(plain.train_dataset) == 9 and len(packed.train_dataset) < 9
    count = lambda ds: sum(sum(label != -100 for label in row) for row in ds["labels"])  # noqa: E731
    assert count(packed.train_dataset) == count(plain.train_dataset)
    # a packed batch restarts positions at each example, so examples do not attend to one another
    batch = packed.data_collator([packed.train_dataset[0]])
    assert (batch["position_ids"][0] == 0).sum() > 1


def test_initial_weights_depend_on_the_seed_only(tiny, tmp_path):
    """LoRA weights are drawn from `seed`, whatever drew random numbers before (e.g. a GGUF dequantized first)."""
    from datagen.train.trainer import build_trainer

    def lora_weights(seed: int) -> dict:
        trainer, _, _ = build_trainer(params(tiny, seed=seed), toy_records(4), [], tmp_path)
        return {k: v.clone() for k, v in trainer.model.named_parameters() if "lora_A" in k}

    first = lora_weights(1)
    torch.rand(1000)  # other work drew random numbers in between
    again, other = lora_weights(1), lora_weights(2)
    assert first and all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_cpu_training_projects_only_labelled_positions_with_the_same_loss_and_gradients(tiny, tmp_path,
                                                                                        monkeypatch):
    import trl.trainer.utils as trl_utils

    from datagen.train.scored_positions import score_labelled_positions_on_cpu
    from datagen.train.trainer import build_trainer

    trainer, _, _ = build_trainer(params(tiny, packing=False, max_length=128), toy_records(6) + [multi_turn()], [],
                                  tmp_path)
    projected = []
    fused = trl_utils._ChunkedLogProbFunction

    class Counting:  # the fused head's projection: count the rows it is given
        @staticmethod
        def apply(hidden, *args):
            projected.append(hidden.shape[0])
            return fused.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Counting)
    model = trainer.model.train()
    inputs = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(7)]))
    losses, grads = {}, {}
    for compact in (False, True):
        score_labelled_positions_on_cpu(compact)
        model.zero_grad()
        torch.manual_seed(0)  # the same LoRA dropout masks
        loss = trainer.compute_loss(model, dict(inputs))
        loss.backward()
        losses[compact] = loss.item()
        grads[compact] = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    labels = inputs["labels"]
    assert projected == [labels[:, 1:].numel(), int((labels[:, 1:] != -100).sum())]
    assert projected[1] < projected[0] / 3  # short answers: most positions carry no label
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(grads[False], grads[True]))


def test_eos_learned_generation_stops_by_itself(tiny, tmp_path):
    from datagen.evaluate.generate import generate, load_for_generation
    from datagen.train.trainer import train_records

    records = toy_records(4, answer="Sure thing")
    summary = train_records(params(tiny, method="full", max_steps=25, learning_rate=1e-2), records, tmp_path,
                            log=lambda s: None)
    assert summary["steps"] == 25 and (tmp_path / "loss.png").is_file() and (tmp_path / "config.json").is_file()
    model, tok = load_for_generation(summary["merged"])
    answers = generate(model, tok, [r.instruction for r in records], max_new_tokens=20)
    # the answer is said, then the turn ends by itself, far before max_new_tokens
    assert [(a["text"], a["stopped"]) for a in answers] == [("Sure thing", True)] * 4


def test_lora_adapter_save_load_round_trip(tiny, tmp_path):
    from datagen.evaluate.generate import load_for_generation
    from datagen.train.trainer import train_records

    summary = train_records(params(tiny, max_steps=3, learning_rate=5e-2), toy_records(4), tmp_path,
                            log=lambda s: None)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    ids = torch.tensor([[1, 2, 300, 400, 500]])
    logits = {}
    for name, (model, adapter) in {"base": (str(tiny), None), "adapter": (str(tiny), summary["adapter"]),
                                   "merged": (summary["merged"], None)}.items():
        net, _ = load_for_generation(model, adapter)
        with torch.no_grad():
            logits[name] = net(ids).logits
    assert torch.allclose(logits["adapter"], logits["merged"], atol=1e-4)
    assert not torch.allclose(logits["adapter"], logits["base"], atol=1e-4)


def test_qlora_on_cpu_is_a_clear_error(tiny, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    from datagen.train.trainer import train_records

    with pytest.raises(ValueError, match="qlora needs a CUDA GPU"):
        train_records(params(tiny, method="qlora", max_steps=1), toy_records(4), tmp_path)


def test_holdout_task_types_never_reach_training():
    from datagen.train.data import split_records

    records = toy_records(12, task_types=("a", "b", "c"))
    train, val, held = split_records(records, 0.25, ["c"], seed=3)
    assert {r.task_type for r in held} == {"c"} and len(held) == 4
    assert "c" not in {r.task_type for r in train + val} and len(train) + len(val) == 8 and len(val) == 2


@pytest.mark.parametrize("mode", ["drop", "truncate"])
def test_examples_longer_than_max_length_are_counted_and_dropped_or_cut(tokenizer, mode):
    from datagen.records import make_record
    from datagen.train.data import build_dataset

    prov = Provenance(generator="test")
    records = toy_records(3) + [make_record("Say many words.", "word " * 200, prov)]
    data, counts = build_dataset(records, tokenizer, max_length=64, too_long=mode)
    assert counts["longer_than_max_length"] == 1
    assert len(data) == (3 if mode == "drop" else 4)
    assert counts["dropped_too_long" if mode == "drop" else "truncated"] == 1
    # the end of turn survives in every kept example unless it was cut
    ends = [tokenizer.convert_tokens_to_ids("<|im_end|>") in row for row in data["labels"]]
    assert ends == ([True] * 3 if mode == "drop" else [True] * 3 + [False])


def test_alpaca_prompt_style_starts_with_bos_when_the_tokenizer_adds_one(tiny):
    from transformers import AutoTokenizer

    from datagen.train.data import tokenize_record
    from datagen.train.model import adds_bos, alpaca_template, prepare_tokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    prepare_tokenizer(tok, prompt_style="alpaca")  # replaces the tokenizer's own chat template
    ex = tokenize_record(toy_records(1)[0], tok)
    assert tok.decode(ex["input_ids"]).startswith("### Instruction:\nSay red.")  # SmolLM2 adds no bos
    assert not adds_bos(tok)
    tok.chat_template = alpaca_template(bos=True)  # what a tokenizer that adds bos (Gemma's) gets
    ex = tokenize_record(toy_records(1)[0], tok)
    assert ex["input_ids"][0] == tok.bos_token_id and ex["labels"][0] == -100


def test_ablation_trains_a_variant_on_the_same_split(tiny, tmp_path):
    from datagen.train.trainer import train_records

    p = params(tiny, max_steps=2, merge=False, ablations={"all-tokens": {"train_on_all": True}})
    summary = train_records(p, toy_records(6), tmp_path, log=lambda s: None)
    variant = summary["ablations"]["all-tokens"]
    assert variant["changes"] == {"train_on_all": True} and variant["steps"] == 2
    assert (tmp_path / "ablations" / "all-tokens" / "adapter" / "adapter_config.json").is_file()
    assert variant["train_records"] == summary["train_records"]
    with pytest.raises(ValueError, match="cannot vary"):
        params(tiny, ablations={"x": {"holdout_task_types": ["a"]}})


def test_train_data_reads_a_tsv_as_import_does(tiny, tmp_path, capsys):
    import json

    from datagen.cli import main

    data = tmp_path / "rows.tsv"
    lines = [["instruction", "input", "output"], ["Say red.", "", "red"], ["Say blue.", "now", "blue"],
             ["Say green.", "", "green"], ["Say pink.", "", "pink"]]
    data.write_text("".join("\t".join(line) + "\n" for line in lines))
    argv = ["train", str(tmp_path / "run"), "--data", str(data), "--model", str(tiny), "--max-steps", "1",
            "--batch-size", "2", "--validation-share", "0", "--no-merge", "--threads", "2"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "train" / "config.json").read_text())
    assert summary["summary"]["train_records"] == 4
    data.write_text("")
    assert main(argv) == 2
    assert "rows.tsv: the file is empty" in capsys.readouterr().err
