"""Sentence-pair classification (NLI, paraphrase): two texts in the model's own pair format
(`[CLS] A [SEP] B [SEP]` with segment ids for BERT, `<s> A </s></s> B </s>` for RoBERTa ...)."""

from __future__ import annotations

from dataclasses import dataclass

from lmlearn.config import option
from lmlearn.tasks.classify import Classify


@dataclass
class PairOptions:
    """Settings of the pair task."""

    text_pair_column: str = option("text_pair", "column holding the second text of a pair")


class Pair(Classify):
    """Sequence classification of a pair of texts."""

    name = "pair"
    Options = PairOptions

    def text_columns(self) -> list[str]:
        return [self.cfg.text_column, self.cfg.text_pair_column]
