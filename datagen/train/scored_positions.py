"""Score only the positions that carry a label, on CPU too.

TRL's SFTTrainer replaces the model's output layer by a fused head that computes per-token log-probabilities in
tiles. On CUDA/XPU it projects only the positions whose next token has a label; on other devices it projects every
position, so that compiled backends (Neuron) see fixed tile shapes. On CPU in eager mode that buys nothing and costs
most of a step when the vocabulary is large and few positions are scored (Gemma 3: 262,144 tokens; assistant-only
loss on template data): benchmarks/train_scored_positions.py measures both. The loss and the gradients are the same
either way (tests/test_train.py)."""
from __future__ import annotations

_ORIGINAL = "datagen_original"


def score_labelled_positions_on_cpu(on: bool = True) -> bool:
    """Make TRL's fused head project only labelled positions on CPU as it does on CUDA (`on`), or restore TRL's
    own choice. Returns False when this TRL has no such switch (every position is scored: slower, same result)."""
    import trl.trainer.utils as trl_utils

    current = getattr(trl_utils, "_use_triton", None)  # the fused head asks it whether to project labelled rows only
    if current is None:
        return False
    original = getattr(current, _ORIGINAL, current)
    if not on:
        trl_utils._use_triton = original
        return True

    def compact(device) -> bool:
        return device.type == "cpu" or original(device)

    setattr(compact, _ORIGINAL, original)
    trl_utils._use_triton = compact
    return True
