"""Metrics of fine-tuned downstream tasks, each computed by the library its field reports with.

Classification and entity scores are fractions (0-1), as scikit-learn and seqeval return them;
QA, ROUGE, BLEU and chrF are percentages (0-100), as the official scripts and sacrebleu print them.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Literal, Sequence

import numpy as np

from lmlearn.errors import LmlearnError
from lmlearn.evaluation.metrics import exact_match, token_f1


def _check_pairs(name: str, predictions: Sequence, references: Sequence) -> None:
    """Fail on an empty or unpaired list: every metric here averages over matched pairs."""
    if len(predictions) != len(references):
        raise LmlearnError(
            f"{name}: {len(predictions)} predictions for {len(references)} references; "
            "give one prediction per reference"
        )
    if not predictions:
        raise LmlearnError(f"{name}: no predictions to score; the evaluation split is empty")


def classification_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 (over the labels of references and predictions together)."""
    from sklearn.metrics import accuracy_score, f1_score

    _check_pairs("classification_scores", predictions, references)
    # sklearn's default label set is the union of both sides, so a label the model invents
    # counts as a class with F1 0 rather than vanishing from the average.
    return {
        "accuracy": float(accuracy_score(references, predictions)),
        "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0)),
    }


def multilabel_scores(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                      labels: Sequence[str]) -> dict[str, float]:
    """Micro- and macro-F1 over (text, label) decisions, and exact match: the share of texts whose predicted
    label set is exactly the reference's (sklearn's subset accuracy)."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    _check_pairs("multilabel_scores", predictions, references)
    binarizer = MultiLabelBinarizer(classes=list(labels))
    binarizer.fit([])
    y_true, y_pred = binarizer.transform(references), binarizer.transform(predictions)
    return {"micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "exact_match": float(accuracy_score(y_true, y_pred))}


def entity_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro entity P/R/F1 (seqeval, conlleval rules) and per-tag accuracy of BIO sequences."""
    from seqeval.metrics import accuracy_score
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    _check_pairs("entity_scores", predictions, references)
    for i, (pred, gold) in enumerate(zip(predictions, references)):
        if len(pred) != len(gold):
            raise LmlearnError(
                f"entity_scores: sentence {i} has {len(pred)} predicted tags for {len(gold)} gold tags; "
                "predict one tag per gold token"
            )
    preds, golds = [list(p) for p in predictions], [list(g) for g in references]
    # No scheme: seqeval's default mode follows conlleval (an I- after O starts an entity),
    # which is what CoNLL-2003 and KLUE-NER report.
    precision, recall, f1, _ = precision_recall_fscore_support(golds, preds, average="micro", zero_division=0)
    return {
        "entity_f1": float(f1),
        "entity_precision": float(precision),
        "entity_recall": float(recall),
        "tag_accuracy": float(accuracy_score(golds, preds)),
    }


# KorQuAD v1.0 official evaluate script (evaluate-v1.0.py, https://korquad.github.io/KorQuad%201.0/):
# these marks become spaces before lower-casing and ASCII punctuation removal; it keeps articles.
_KORQUAD_SPACED = "'\"《》<>〈〉()‘’"


def korquad_normalize(text: str) -> str:
    """KorQuAD v1.0 normalisation: quotes and brackets to spaces, lower-case, no ASCII punctuation."""
    text = "".join(" " if ch in _KORQUAD_SPACED else ch for ch in text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(text.split())


def korquad_exact_match(prediction: str, target: str) -> float:
    """1.0 when the KorQuAD-normalised strings are equal (spaces still count)."""
    return float(korquad_normalize(prediction) == korquad_normalize(target))


def korquad_char_f1(prediction: str, target: str) -> float:
    """KorQuAD F1 over the characters of the normalised words: a particle such as 은 costs one character."""
    pred = list(korquad_normalize(prediction).replace(" ", ""))
    gold = list(korquad_normalize(target).replace(" ", ""))
    common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    # The script scores 0 whenever nothing is shared, even two empty answers.
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


_QA_RULES = {"squad": (exact_match, token_f1), "korquad": (korquad_exact_match, korquad_char_f1)}


def squad_scores(
    predictions: Sequence[str], answers: Sequence[Sequence[str]], rules: Literal["squad", "korquad"] = "squad"
) -> dict[str, float]:
    """Exact match and F1 in percent, each the best over a question's gold answers."""
    if rules not in _QA_RULES:
        raise LmlearnError(f"squad_scores: unknown rules {rules!r}; use one of {', '.join(_QA_RULES)}")
    _check_pairs("squad_scores", predictions, answers)
    em_fn, f1_fn = _QA_RULES[rules]
    ems, f1s = [], []
    for i, (pred, golds) in enumerate(zip(predictions, answers)):
        if not golds:
            raise LmlearnError(f"squad_scores: question {i} has no gold answers; give it at least one")
        ems.append(max(em_fn(pred, gold) for gold in golds))
        f1s.append(max(f1_fn(pred, gold) for gold in golds))
    return {"exact_match": 100.0 * float(np.mean(ems)), "f1": 100.0 * float(np.mean(f1s))}


class _UnicodeWords:
    """Lower-cased Unicode words: rouge-score's default tokenizer drops non-ASCII text, Hangul included."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures in percent (rouge-score, Unicode word tokens)."""
    from rouge_score import rouge_scorer

    _check_pairs("rouge_scores", predictions, references)
    kinds = ["rouge1", "rouge2", "rougeL"]
    scorer = rouge_scorer.RougeScorer(kinds, tokenizer=_UnicodeWords())
    scores = [scorer.score(ref, pred) for pred, ref in zip(predictions, references)]
    return {kind: 100.0 * float(np.mean([s[kind].fmeasure for s in scores])) for kind in kinds}


def bleu_chrf(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu defaults, one reference per prediction)."""
    import sacrebleu

    _check_pairs("bleu_chrf", predictions, references)
    hyps, refs = list(predictions), [list(references)]
    return {
        "bleu": float(sacrebleu.corpus_bleu(hyps, refs).score),
        "chrf": float(sacrebleu.corpus_chrf(hyps, refs).score),
    }


def regression_scores(predictions: Sequence[float], references: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (scipy) and the mean squared error of numeric predictions."""
    from scipy.stats import pearsonr, spearmanr

    _check_pairs("regression_scores", predictions, references)
    mse = sum((p - r) ** 2 for p, r in zip(predictions, references)) / len(references)
    constant = len(set(predictions)) < 2 or len(set(references)) < 2  # a correlation is undefined then
    return {"pearson": 0.0 if constant else float(pearsonr(predictions, references)[0]),
            "spearman": 0.0 if constant else float(spearmanr(predictions, references)[0]), "mse": mse}
