"""What a reward model on Anthropic HH could learn from 1,850 pairs without a pre-trained network: two
baselines on the same split as recipes/rlhf.yaml (runs/hh/{train,val,test}.jsonl).

- length: the shorter answer is the chosen one (harmless answers are often refusals, and short);
- bag of words: logistic regression on the TF-IDF difference of the two answers (each pair in both orders),
  its C chosen on the validation pairs, then scored once on the test pairs.

    .venv/bin/python recipes/hh_reward_baselines.py
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from lmlearn.align.preferences import read_pairs
from lmlearn.data.sources import ReadReport


def main() -> None:
    split = {name: read_pairs(f"runs/hh/{name}.jsonl", on_bad_rows="skip", report=ReadReport())
             for name in ("train", "val", "test")}
    for name, pairs in split.items():
        print(f"{name}: {len(pairs)} pairs; shorter answer chosen: "
              f"{np.mean([len(p.chosen) < len(p.rejected) for p in pairs]):.3f}")
    vectorizer = TfidfVectorizer(min_df=2).fit([a for p in split["train"] for a in (p.chosen, p.rejected)])

    def features(pairs):
        return vectorizer.transform([p.chosen for p in pairs]) - vectorizer.transform([p.rejected for p in pairs])

    x = features(split["train"])
    both, y = sp.vstack([x, -x]), np.r_[np.ones(x.shape[0]), np.zeros(x.shape[0])]
    scores = {}
    for c in (0.01, 0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=5000).fit(both, y)
        scores[c] = (model, float(np.mean(model.decision_function(features(split["val"])) > 0)))
        print(f"bag of words, C={c}: validation accuracy {scores[c][1]:.3f}")
    best = max(scores, key=lambda c: scores[c][1])
    test = np.mean(scores[best][0].decision_function(features(split["test"])) > 0)
    print(f"bag of words, C={best} (chosen on validation): test accuracy {test:.3f} on {len(split['test'])} pairs")


if __name__ == "__main__":
    main()
