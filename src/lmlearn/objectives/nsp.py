"""BERT pre-training: masked LM plus next sentence prediction on `[CLS] A [SEP] B [SEP]` pairs.

Pairs are built once in `prepare`, as google-research/bert create_pretraining_data.py builds them:
sentences of a document are gathered up to a target length (shorter with p=short_seq_prob), A is
the first a_end of them, and B is either the rest (label 0) or, with p=0.5, text from another
document (label 1; the unused sentences go back). Masking happens in `collate`, fresh each time,
unless dupe_factor asks for static copies; each copy is also a fresh draw of pairs, as in BERT.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import datasets
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.objectives.masking import IGNORE
from lmlearn.objectives.mlm import (STATIC_CHUNK, MaskedLM, MaskedLMOptions, frame_ids, gathered_mlm_loss,
                                    tokenize_documents)

# (A, B, pair label, sentences to give back to the document) from (document index, chunk, a_end, target)
PairRule = Callable[[int, list[list[int]], int, int], tuple[list[int], list[int], int, int] | None]


@dataclass
class SentencePairOptions(MaskedLMOptions):
    """Settings of the sentence-pair objectives."""

    short_seq_prob: float = option(0.1, "share of sentence pairs built shorter than the block, "
                                         "uniform in length (mlm+nsp, mlm+sop)", range="[0, 1]")


class Pair(NamedTuple):
    """One example: `[CLS] A [SEP] B [SEP]` ids, where B starts, its pair label, and static MLM labels if any."""

    input_ids: torch.Tensor
    b_start: int
    pair_label: int
    mlm_labels: torch.Tensor | None = None


def truncate_pair(a: list[int], b: list[int], max_tokens: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """BERT's truncate_seq_pair: drop a token from the longer side, front or back with p=0.5, until both fit."""
    cuts = [[0, 0], [0, 0]]  # tokens dropped from the (front, back) of A and of B
    lengths = [len(a), len(b)]
    while sum(lengths) > max_tokens:
        side = 0 if lengths[0] > lengths[1] else 1
        cuts[side][0 if rng.random() < 0.5 else 1] += 1
        lengths[side] -= 1
    return a[cuts[0][0]:len(a) - cuts[0][1]], b[cuts[1][0]:len(b) - cuts[1][1]]


def build_pairs(docs: list[list[list[int]]], max_tokens: int, short_seq_prob: float, rng: random.Random,
                rule: PairRule) -> list[tuple[list[int], list[int], int]]:
    """(A, B, label) for every document, as create_instances_from_document gathers chunks; `rule` picks B."""
    pairs = []
    for index, doc in enumerate(docs):
        target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
        chunk: list[list[int]] = []
        length, i = 0, 0
        while i < len(doc):
            chunk.append(doc[i])
            length += len(doc[i])
            if i == len(doc) - 1 or length >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                made = rule(index, chunk, a_end, target)
                if made is not None:
                    a, b, label, unused = made
                    i -= unused
                    a, b = truncate_pair(a, b, max_tokens, rng)
                    pairs.append((a, b, label))
                chunk, length = [], 0
            i += 1
    return pairs


def next_sentence_rule(docs: list[list[list[int]]], rng: random.Random) -> PairRule:
    """BERT's NSP: B is the actual rest of the chunk (0) or, with p=0.5 or a one-sentence chunk, random text (1)."""
    def rule(index: int, chunk: list[list[int]], a_end: int, target: int):
        a = [t for sentence in chunk[:a_end] for t in sentence]
        if len(chunk) > 1 and rng.random() >= 0.5:
            return a, [t for sentence in chunk[a_end:] for t in sentence], 0, 0
        # Draw among the other documents only (BERT retries up to 10 times to avoid its own).
        other = rng.randrange(len(docs) - 1)
        other = docs[other + (other >= index)]
        b: list[int] = []
        for sentence in other[rng.randrange(len(other)):]:
            b.extend(sentence)
            if len(b) >= target - len(a):
                break
        return a, b, 1, len(chunk) - a_end

    return rule


def _pretraining_heads(model: torch.nn.Module) -> tuple[Callable, Callable] | None:
    """(MLM head, pair classifier) of a *ForPreTraining model, or None for a model not known here."""
    name = type(model).__name__
    if name == "BertForPreTraining":
        return model.cls.predictions, model.cls.seq_relationship
    if name == "AlbertForPreTraining":
        return model.predictions, model.sop_classifier
    return None


class MaskedLMWithNSP(MaskedLM):
    """BERT: masked LM and next sentence prediction; loss = MLM + NSP cross-entropy."""

    name = "mlm+nsp"
    head = "pretraining"
    families = ("bert",)
    Options = SentencePairOptions
    pair_label_name = "next_sentence_label"  # the model's argument for the pair label

    def pair_rule(self, docs: list[list[list[int]]], rng: random.Random) -> PairRule:
        """How B is chosen for a chunk."""
        return next_sentence_rule(docs, rng)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> list[Pair]:
        """Sentence pairs from the documents of `ds`, with static masks when dupe_factor > 0."""
        cls, sep = frame_ids(self.tokenizer)
        if self.cfg.block_size < 5:
            raise LmlearnError(f"--block-size {self.cfg.block_size} cannot hold [CLS] A [SEP] B [SEP]; use at least 5")
        docs = tokenize_documents(ds, self.tokenizer, self.cfg.text_column)
        if len(docs) < 2:
            raise LmlearnError(f"the {what} holds {len(docs)} document(s); sentence pairs need at least two "
                               "(one row is one document unless a 'document' column groups rows)")
        rng = random.Random(self.cfg.seed)
        rule = self.pair_rule(docs, rng)
        pairs = []
        for _ in range(max(1, self.cfg.dupe_factor)):
            built = build_pairs(docs, self.cfg.block_size - 3, self.cfg.short_seq_prob, rng, rule)
            pairs.extend(Pair(torch.tensor([cls, *a, sep, *b, sep]), len(a) + 2, label) for a, b, label in built)
        if not pairs:
            raise LmlearnError(f"the {what} gave no sentence pairs; use more text")
        return self._static_masks(pairs) if self.cfg.dupe_factor > 0 else pairs

    def _static_masks(self, pairs: list[Pair]) -> list[Pair]:
        generator = torch.Generator().manual_seed(self.cfg.seed)
        out = []
        for start in range(0, len(pairs), STATIC_CHUNK):
            part = pairs[start:start + STATIC_CHUNK]
            ids = pad_sequence([p.input_ids for p in part], batch_first=True, padding_value=self.tokenizer.pad_token_id)
            inputs, labels = self.mask(ids, generator)
            out.extend(p._replace(input_ids=inputs[i, :len(p.input_ids)], mlm_labels=labels[i, :len(p.input_ids)])
                       for i, p in enumerate(part))
        return out

    def collate(self, examples: list[Pair], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Pad the pairs, set token_type_ids (1 from B on), and mask (or take the static masks)."""
        ids = pad_sequence([e.input_ids for e in examples], batch_first=True, padding_value=self.tokenizer.pad_token_id)
        positions = torch.arange(ids.shape[1])
        attention = positions < torch.tensor([len(e.input_ids) for e in examples])[:, None]
        segment_b = (positions >= torch.tensor([e.b_start for e in examples])[:, None]) & attention
        if examples[0].mlm_labels is not None:
            labels = pad_sequence([e.mlm_labels for e in examples], batch_first=True, padding_value=IGNORE)
        else:
            ids, labels = self.mask(ids, generator)
        return {"input_ids": ids, "attention_mask": attention.long(), "token_type_ids": segment_b.long(),
                "labels": labels, self.pair_label_name: torch.tensor([e.pair_label for e in examples])}

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """MLM cross-entropy (head on the masked positions only) plus the pair classifier's cross-entropy."""
        heads = _pretraining_heads(model)
        if heads is None:  # a wrapped or unfamiliar model: its own (full-head) loss
            return model(**batch).loss
        mlm_head, pair_head = heads
        inputs = {k: v for k, v in batch.items() if k not in ("labels", self.pair_label_name)}
        hidden, pooled = model.base_model(**inputs)[:2]
        return gathered_mlm_loss(mlm_head, hidden, batch["labels"]) + F.cross_entropy(
            pair_head(pooled), batch[self.pair_label_name])
