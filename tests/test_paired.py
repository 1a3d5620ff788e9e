"""lmlearn paired: the bootstrap interval of a paired difference, and the pairing checks."""

import json

import numpy as np
import pytest

from lmlearn.commands.paired import Config, compare
from lmlearn.errors import LmlearnError
from lmlearn.evaluation.paired import paired_bootstrap


def test_pairing_cancels_the_variation_both_runs_share():
    rng = np.random.default_rng(0)
    hardness = rng.normal(0, 1, 400)  # per-document difficulty, shared by both runs
    a = hardness
    b = hardness + 0.1 + rng.normal(0, 0.05, 400)
    r = paired_bootstrap(list(a), list(b), iters=2000)
    assert 0 < r["low"] < 0.1 < r["high"] < 0.2 and r["p_b_not_better"] == 0.0
    # the same gain between independent runs is lost in the noise
    unpaired = rng.permutation(a)
    spread = np.std([np.mean(rng.choice(b, 400) - rng.choice(unpaired, 400)) for _ in range(500)])
    assert r["high"] - r["low"] < spread  # narrower than an unpaired interval would be
    same = paired_bootstrap(list(a), list(a), iters=200)
    assert same["difference"] == same["low"] == same["high"] == 0.0 and same["p_b_not_better"] == 1.0


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_reads_evaluate_samples_and_finetune_predictions(tmp_path):
    docs = [{"prompt": f"q{i}", "doc_id": i} for i in range(10)]
    a = write(tmp_path / "a.samples.jsonl", [{**d, "acc": float(i < 4)} for i, d in enumerate(docs)])
    b = write(tmp_path / "b.samples.jsonl", [{**d, "acc": float(i < 7)} for i, d in enumerate(docs)])
    r = compare(Config(a=a, b=b, iters=500, out=str(tmp_path / "r.json")))
    assert (r["a"], r["b"], r["n"]) == (0.4, 0.7, 10) and abs(r["difference"] - 0.3) < 1e-12
    assert json.loads((tmp_path / "r.json").read_text())["difference"] == r["difference"]
    preds = [{"id": str(i), "label": "1", "prediction": "1" if i % 2 else "0"} for i in range(6)]
    p = write(tmp_path / "p.jsonl", preds)
    assert compare(Config(a=p, b=p, iters=200))["a"] == 0.5


def test_different_documents_and_missing_fields_are_named(tmp_path):
    a = write(tmp_path / "a.jsonl", [{"prompt": "x", "acc": 1.0}, {"prompt": "y", "acc": 0.0}])
    b = write(tmp_path / "b.jsonl", [{"prompt": "x", "acc": 1.0}, {"prompt": "z", "acc": 1.0}])
    with pytest.raises(LmlearnError, match=r"a.jsonl:2 and .*b.jsonl:2 are different documents"):
        compare(Config(a=a, b=b))
    short = write(tmp_path / "s.jsonl", [{"prompt": "x", "acc": 1.0}])
    with pytest.raises(LmlearnError, match="2 and 1 documents"):
        compare(Config(a=a, b=short))
    with pytest.raises(LmlearnError, match=r"a.jsonl:1: no numeric 'f1'"):
        compare(Config(a=a, b=a, metric="f1"))
