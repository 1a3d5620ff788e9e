"""ALBERT pre-training: n-gram masked LM plus sentence order prediction.

Segments A and B are built as in BERT, always from one document; with p=0.5 they are swapped
(label 1), otherwise kept in order (label 0). ALBERT's code takes B from another document when a
chunk holds a single sentence, which makes some "swapped" examples NSP negatives; here such a
sentence is split at a random token instead, so every example is an order question (the paper's SOP).

Masking picks whole-word n-grams, n ∈ {1..max_ngram=3} with p(n) ∝ 1/n, up to a budget of
round(0.15·len) pieces per sequence (google-research/albert create_pretraining_data.py).
ALBERT also caps the budget at max_predictions_per_seq, 20 at 128 tokens = ceil(0.15·128): a cap
that never binds at its own block size, so none is applied.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.objectives.masking import corrupt, select_ngrams, vocab_tables
from lmlearn.objectives.nsp import MaskedLMWithNSP, PairRule, SentencePairOptions


@dataclass
class SentenceOrderOptions(SentencePairOptions):
    """Settings of ALBERT's objective."""

    max_ngram: int = option(3, "longest n-gram of whole words masked together (mlm+sop)", range=">=1")


def sentence_order_rule(rng: random.Random) -> PairRule:
    """ALBERT's SOP: A then B from one chunk (label 0) or, with p=0.5, B then A (label 1)."""
    def rule(index: int, chunk: list[list[int]], a_end: int, target: int):
        if len(chunk) == 1:
            sentence = chunk[0]
            if len(sentence) < 2:
                return None
            cut = rng.randint(1, len(sentence) - 1)
            a, b = sentence[:cut], sentence[cut:]
        else:
            a = [t for sentence in chunk[:a_end] for t in sentence]
            b = [t for sentence in chunk[a_end:] for t in sentence]
        return (b, a, 1, 0) if rng.random() < 0.5 else (a, b, 0, 0)

    return rule


class MaskedLMWithSOP(MaskedLMWithNSP):
    """ALBERT: n-gram masked LM and sentence order prediction; loss = MLM + SOP cross-entropy."""

    name = "mlm+sop"
    head = "pretraining"
    families = ("albert",)
    Options = SentenceOrderOptions
    pair_label_name = "sentence_order_label"

    def pair_rule(self, docs: list[list[list[int]]], rng: random.Random) -> PairRule:
        """Both segments from the same chunk, swapped half the time."""
        return sentence_order_rule(rng)

    def mask(self, ids: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole-word n-gram masking with ALBERT's budget, then 80/10/10 per piece."""
        if self.cfg.max_ngram < 1:
            raise LmlearnError(f"--max-ngram {self.cfg.max_ngram}: n-grams need at least one word")
        tables = vocab_tables(self.tokenizer)
        candidates = ~tables.special[ids]
        length = (ids != self.tokenizer.pad_token_id).sum(1)  # with [CLS] and [SEP]s, as ALBERT counts
        budget = torch.round(self.cfg.mlm_probability * length).long().clamp(min=1)
        selected = select_ngrams(candidates, tables.word_starts(ids), budget, self.cfg.max_ngram, generator)
        return corrupt(ids, selected, tables, generator)
