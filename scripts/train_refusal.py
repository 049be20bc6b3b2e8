"""Train the refusal head shipped in datagen/filters/models/refusal.json on the train split of the labelled set.

    python scripts/train_refusal.py

Logistic regression (scikit-learn) on all-MiniLM-L6-v2 embeddings. Positives: answers labelled
refusal_or_pseudo_refusal, embedded whole. Negatives: every other answer, whole and sentence by sentence (the filter
scores sentences too). The threshold is the lowest one whose cross-validated precision on the train split is at
least 0.9 (in-sample when the split holds fewer than two positives), else one above every negative's score. The
held-out split is never read here.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from datagen.filters.base import FilterContext
from datagen.filters.refusal import WEIGHTS, Refusal, sentences

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "filter_eval" / "records.jsonl"
POSITIVE = "refusal_or_pseudo_refusal"


def main() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    answers = [r["record"]["messages"][-1]["content"] for r in train]
    texts, labels, whole = [], [], []
    for answer, row in zip(answers, train):
        positive = row["reason"] == POSITIVE
        pieces = [answer] if positive else sentences(answer)
        whole.append(len(texts))
        texts += pieces
        labels += [int(positive)] * len(pieces)
    encoder = Refusal(Refusal.Params(), FilterContext("refusal"))
    x, y = encoder.embed(texts), np.array(labels)
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
    # threshold from cross-validated scores of whole answers (max over sentences, as the filter scores them)
    folds = min(5, int(y.sum()))
    probs = (cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1] if folds >= 2
             else model.fit(x, y).predict_proba(x)[:, 1])  # too few positives to cross-validate
    bounds = whole[1:] + [len(texts)]
    scores = np.array([probs[a:b].max() for a, b in zip(whole, bounds)])
    truth = np.array([r["reason"] == POSITIVE for r in train])
    # no threshold that precise: one above every negative, so the head alone rejects nothing it was not sure of
    threshold = round(min(0.99, float(scores[~truth].max()) + 0.01), 2)
    for t in np.arange(0.3, 0.96, 0.01):
        hit = scores >= t
        if hit.any() and truth[hit].mean() >= 0.9:
            threshold = round(float(t), 2)
            break
    model.fit(x, y)
    hit = scores >= threshold
    measured = {"positives": int(truth.sum()), "precision": round(float(truth[hit].mean()) if hit.any() else 0.0, 3),
                "recall": round(float(hit[truth].mean()), 3)}
    WEIGHTS.parent.mkdir(exist_ok=True)
    WEIGHTS.write_text(json.dumps({
        "encoder": "all-MiniLM-L6-v2", "trained_on": f"{DATA.name} split=train ({len(train)} answers)",
        "threshold": threshold, "cross_validated": measured, "intercept": round(float(model.intercept_[0]), 6),
        "coef": [round(float(c), 6) for c in model.coef_[0]]}) + "\n", encoding="utf-8")
    print(f"{WEIGHTS}: {measured['positives']} positives of {len(train)}; threshold {threshold}; cross-validated "
          f"precision {measured['precision']:.3f} recall {measured['recall']:.3f}")


if __name__ == "__main__":
    main()
