"""IFEval (Zhou et al., 2023): the official prompt file layout, its 25 verifiable instruction types and its
strict / loose, prompt- / instruction-level accuracies."""
from datagen.evaluate.ifeval.checkers import CHECKERS
from datagen.evaluate.ifeval.loader import load_prompts
from datagen.evaluate.ifeval.scoring import follows, loose_variants, score, verdicts

__all__ = ["CHECKERS", "follows", "load_prompts", "loose_variants", "score", "verdicts"]
