"""Paired comparison of two runs on the same documents: per-document scores in, the difference of the
means and its percentile bootstrap interval out (documents resampled together, so the variation the
two runs share cancels)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmlearn.errors import LmlearnError


@dataclass
class Scored:
    """Per-document scores of one side, with each document's identity and origin (file:line)."""

    scores: list[float]
    keys: list[str]
    where: list[str]


def _score(row: dict[str, Any], metric: str, where: str) -> float:
    """`metric` from an evaluation sample; for a fine-tuning prediction, acc is label == prediction."""
    if metric in row and isinstance(row[metric], (int, float)) and not isinstance(row[metric], bool):
        return float(row[metric])
    if metric == "acc" and "label" in row and "prediction" in row:
        return float(str(row["label"]) == str(row["prediction"]))
    raise LmlearnError(f"{where}: no numeric '{metric}' field (and no label/prediction pair for acc); "
                       "expected lines of an evaluate .samples.jsonl or a finetune predictions.jsonl")


def _key(row: dict[str, Any]) -> str:
    """What makes two lines the same document: its id, else its prompt, else every field but the outputs."""
    if "id" in row:
        return str(row["id"])
    if "prompt" in row:
        return f"{row['prompt']}\x00{row.get('doc_id', '')}"
    return json.dumps({k: v for k, v in row.items() if k not in ("prediction", "acc")}, sort_keys=True,
                      ensure_ascii=False)


def read_scores(paths: list[str], metric: str) -> Scored:
    """Per-document scores from JSON lines files, in file order."""
    from lmlearn.data.sources import json_records

    out = Scored([], [], [])
    for path in paths:
        if not os.path.isfile(path):
            raise LmlearnError(f"{path}: no such file")
        for where, row in json_records(path):
            if not isinstance(row, dict):
                raise LmlearnError(f"{where}: expected a JSON object, got {type(row).__name__}")
            out.scores.append(_score(row, metric, where))
            out.keys.append(_key(row))
            out.where.append(where)
    if not out.scores:
        raise LmlearnError(f"{', '.join(paths)}: no documents")
    return out


def check_paired(a: Scored, b: Scored) -> None:
    """Fail unless both sides score the same documents in the same order."""
    if len(a.scores) != len(b.scores):
        raise LmlearnError(f"the two sides have {len(a.scores)} and {len(b.scores)} documents; a paired "
                           "comparison needs the same documents on both")
    for i, (ka, kb) in enumerate(zip(a.keys, b.keys)):
        if ka != kb:
            raise LmlearnError(f"{a.where[i]} and {b.where[i]} are different documents; a paired comparison "
                               "needs the same documents in the same order")


def paired_bootstrap(a: list[float], b: list[float], iters: int = 10000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """Mean of a and of b, mean(b) - mean(a), its percentile bootstrap interval, and the share of resamples
    in which b does not beat a (a one-sided bootstrap p-value)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise LmlearnError("a paired bootstrap needs two equally long lists of at least 2 scores")
    picks = np.random.default_rng(seed).integers(0, x.size, size=(iters, x.size))
    diffs = (y - x)[picks].mean(axis=1)
    tail = (1 - level) / 2
    return {"n": int(x.size), "a": float(x.mean()), "b": float(y.mean()), "difference": float((y - x).mean()),
            "low": float(np.quantile(diffs, tail)), "high": float(np.quantile(diffs, 1 - tail)),
            "p_b_not_better": float(np.mean(diffs <= 0)), "level": level, "iters": iters}
