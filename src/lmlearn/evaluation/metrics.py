"""Metrics: per-document scores, their aggregates, and bootstrap standard errors.

Definitions follow lm-eval (acc, acc_norm by characters, word perplexity, bits per byte) and
SQuAD (exact match and token F1 after normalisation).
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Callable, Sequence

import numpy as np

INVALID = "[invalid]"  # what lm-eval's regex filter answers when nothing matches


def multiple_choice(logliks: Sequence[float], choices: Sequence[str], gold: int,
                    unconditional: Sequence[float] | None = None) -> dict[str, float]:
    """acc and acc_norm of one document: argmax of log-likelihood, and of log-likelihood per character;
    with the choices' log-likelihoods after no context, acc_mutual_info: argmax of log P(c|ctx) - log P(c),
    which takes each answer's prior out of the ranking."""
    lls = np.asarray(logliks, dtype=np.float64)
    lengths = np.asarray([float(len(c)) for c in choices])
    result = {"acc": float(np.argmax(lls) == gold), "acc_norm": float(np.argmax(lls / lengths) == gold)}
    if unconditional is not None:
        result["acc_mutual_info"] = float(np.argmax(lls - np.asarray(unconditional, dtype=np.float64)) == gold)
    return result


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and English articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, target: str) -> float:
    """1.0 when the normalised prediction equals the normalised target."""
    return float(normalize_answer(prediction) == normalize_answer(target))


def token_f1(prediction: str, target: str) -> float:
    """SQuAD F1 over the normalised words of prediction and target."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(target).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


class _WordTokenizer:
    """Unicode words: rouge-score's own tokenizer drops non-Latin text such as Hangul."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())


def rouge_l(prediction: str, target: str) -> float:
    """ROUGE-L F-measure (rouge-score) over Unicode word tokens."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WordTokenizer())
    return float(scorer.score(target, prediction)["rougeL"].fmeasure)


def extract_answer(text: str, pattern: str | None) -> str:
    """The first match of `pattern` (its first group if it has one); the stripped text without a pattern."""
    if not pattern:
        return text.strip()
    match = re.search(pattern, text)
    if not match:
        return INVALID
    return (match.group(1) if match.groups() else match.group(0)).strip()


def count_words(text: str) -> int:
    """Words as lm-eval counts them for word perplexity."""
    return len(re.split(r"\s+", text))


def word_perplexity(items: Sequence[tuple[float, int]]) -> float:
    """exp(-Σ log-likelihood / Σ words) over documents (items: (loglik, words))."""
    lls, words = np.asarray(items, dtype=np.float64).T
    return float(math.exp(-lls.sum() / words.sum()))


def bits_per_byte(items: Sequence[tuple[float, int]]) -> float:
    """-Σ log-likelihood / (Σ bytes · ln 2) over documents (items: (loglik, utf-8 bytes))."""
    lls, counts = np.asarray(items, dtype=np.float64).T
    return float(-lls.sum() / counts.sum() / math.log(2))


def mean(items: Sequence[float]) -> float:
    """The mean of per-document scores."""
    return float(np.mean(items))


# How each metric turns its per-document items into one number.
AGGREGATE: dict[str, Callable] = {
    "acc": mean, "acc_norm": mean, "acc_mutual_info": mean, "exact_match": mean, "f1": mean, "rouge": mean,
    "word_perplexity": word_perplexity, "token_perplexity": word_perplexity, "bits_per_byte": bits_per_byte,
}


def bootstrap_stderr(aggregate: Callable, items: Sequence, iters: int = 1000, seed: int = 0) -> float:
    """Standard deviation of the aggregate over `iters` resamples of the documents (seeded)."""
    n = len(items)
    if n < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = np.asarray(items, dtype=np.float64)
    picks = rng.integers(0, n, size=(iters, n))
    if aggregate is mean:
        stats = values[picks].mean(axis=1)
    else:
        stats = np.array([aggregate(values[p]) for p in picks])
    return float(np.std(stats, ddof=1))
