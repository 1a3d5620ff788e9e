"""Masked language modelling (BERT, RoBERTa): predict ~15% of the tokens from both sides.

Data is RoBERTa's FULL-SENTENCES: whole sentences packed up to the block size, across document
boundaries with an extra separator, each sequence framed as [CLS] ... [SEP] (<s> ... </s>).
Masking is dynamic by default (a fresh mask each time a sequence is served, RoBERTa); dupe_factor=N
makes BERT's static masks instead, N copies masked once in `prepare`.

The loss runs the output head only at the masked positions, as google-research/bert's
gather_indexes does: the vocabulary projection is most of a small model's head cost, and 85% of
it would go to positions without a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import datasets
import torch
import torch.nn.functional as F

from lmlearn.config import option
from lmlearn.data.blocks import pad_rows
from lmlearn.data.documents import documents
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective
from lmlearn.objectives.masking import IGNORE, mask_tokens, vocab_tables

STATIC_CHUNK = 1024  # sequences masked at once when static masks are made in `prepare`


@dataclass
class MaskedLMOptions:
    """Settings of the masked-LM objectives."""

    mlm_probability: float = option(0.15, "share of tokens to predict (mlm, mlm+nsp, mlm+sop)", range="(0, 1)")
    whole_word: bool = option(False, "mask all pieces of a word together (mlm, mlm+nsp; mlm+sop always does)")
    dupe_factor: int = option(0, "static masking: N masked copies of each sequence, made once (BERT used 10); "
                                 "0 draws a fresh mask each time a sequence is served (RoBERTa) (mlm, mlm+nsp, mlm+sop)",
                                 range=">=0")


def tokenize_documents(ds: datasets.Dataset, tokenizer, text_column: str) -> list[list[list[int]]]:
    """Every document of `ds` as a list of tokenized sentences (no special tokens)."""
    docs = documents(ds, text_column)
    # Byte-level BPE spells a word after a space with "Ġ": give each later sentence back the space
    # the splitter removed, so its first word is spelled as it is inside running text. (Our WordPiece
    # and Unigram tokenizers mark every text's first word with "▁" already.)
    marked = tokenizer.convert_ids_to_tokens(tokenizer(" x", add_special_tokens=False)["input_ids"])
    space = " " if marked and marked[0].startswith("Ġ") else ""
    out = []
    for start in range(0, len(docs), 1000):
        part = docs[start:start + 1000]
        texts = [(space if i else "") + sentence for doc in part for i, sentence in enumerate(doc)]
        ids = iter(tokenizer(texts, add_special_tokens=False)["input_ids"])
        out.extend([next(ids) for _ in doc] for doc in part)
    return out


def frame_ids(tokenizer) -> tuple[int, int]:
    """The ids that open and close a sequence: [CLS]/[SEP], or <s>/</s>."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if first is None or last is None:
        raise LmlearnError("masked language modelling needs a tokenizer with [CLS]/[SEP] (or <s>/</s>) tokens")
    return first, last


def full_sentences(docs: list[list[list[int]]], block_size: int, cls: int, sep: int) -> list[list[int]]:
    """RoBERTa's FULL-SENTENCES: whole sentences up to `block_size`, [SEP] between documents, framed by [CLS]/[SEP].

    A sentence longer than a block is split over several blocks rather than dropped.
    """
    room = block_size - 2
    blocks: list[list[int]] = []
    current: list[int] = []
    for doc in docs:
        first_of_doc = True
        for sentence in doc:
            for piece in (sentence[i:i + room] for i in range(0, len(sentence), room)):
                boundary = first_of_doc and bool(current)
                if len(current) + boundary + len(piece) > room:
                    blocks.append([cls, *current, sep])
                    current, boundary = [], False
                current.extend([sep, *piece] if boundary else piece)
                first_of_doc = False
    if current:
        blocks.append([cls, *current, sep])
    return blocks


def _masked_lm_head(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The model's own MLM head as a function of hidden states, or None for a model not known here."""
    name = type(model).__name__
    if name == "BertForMaskedLM":
        return model.cls
    if name == "RobertaForMaskedLM":
        return model.lm_head
    if name == "AlbertForMaskedLM":
        return model.predictions
    if name == "ElectraForMaskedLM":
        return lambda h: model.generator_lm_head(model.generator_predictions(h))
    if name == "DebertaV2ForMaskedLM":
        if model.legacy:
            return model.cls
        return lambda h: model.lm_predictions(h, model.deberta.embeddings.word_embeddings)
    if name == "DistilBertForMaskedLM":
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    return None


def gathered_mlm_loss(head: Callable[[torch.Tensor], torch.Tensor], hidden: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled positions, running `head` on those rows of `hidden` only."""
    where = labels != IGNORE
    return F.cross_entropy(head(hidden[where]), labels[where])


class MaskedLM(Objective):
    """BERT/RoBERTa masked LM on FULL-SENTENCES blocks, 80/10/10, dynamic or static masks."""

    name = "mlm"
    head = "masked-lm"
    families = ("bert", "roberta", "albert", "deberta-v2", "electra", "distilbert")
    Options = MaskedLMOptions

    def mask(self, ids: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked inputs and labels for a padded (B, L) batch of ids."""
        return mask_tokens(ids, vocab_tables(self.tokenizer), self.cfg.mlm_probability, generator,
                           whole_word=self.cfg.whole_word)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Pack `ds` into an (N, block_size) pad-filled tensor, or (N·dupe_factor, 2, block_size) of
        [masked ids, labels] with static masks."""
        cls, sep = frame_ids(self.tokenizer)
        docs = tokenize_documents(ds, self.tokenizer, self.cfg.text_column)
        blocks = full_sentences(docs, self.cfg.block_size, cls, sep)
        if not blocks:
            raise LmlearnError(f"the {what} holds no text; check --data and --text-column")
        ids = pad_rows(blocks, self.tokenizer.pad_token_id, self.cfg.block_size)
        if self.cfg.dupe_factor <= 0:
            return ids
        generator = torch.Generator().manual_seed(self.cfg.seed)
        copies = [torch.stack(self.mask(part, generator), 1)
                  for _ in range(self.cfg.dupe_factor) for part in ids.split(STATIC_CHUNK)]
        return torch.cat(copies)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Trim the padding the batch does not need, then mask (or take the static masks)."""
        ids = examples[:, 0] if examples.dim() == 3 else examples
        attention = ids != self.tokenizer.pad_token_id
        width = int(attention.sum(1).max())
        ids, attention = ids[:, :width], attention[:, :width]
        if examples.dim() == 3:
            labels = examples[:, 1, :width]
        else:
            ids, labels = self.mask(ids, generator)
        return {"input_ids": ids, "attention_mask": attention.long(), "labels": labels}

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """MLM cross-entropy with the output head run on the masked positions only."""
        head = _masked_lm_head(model)
        if head is None:  # a wrapped or unfamiliar model: its own (full-head) loss
            return model(**batch).loss
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return gathered_mlm_loss(head, model.base_model(**inputs)[0], batch["labels"])
