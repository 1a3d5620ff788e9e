"""Supervised fine-tuning on conversations (SFT): tokenized chats in, the mean cross-entropy of the
assistant tokens out. Prompts, system and user turns carry no labels; each answer's end-of-turn token does,
so the model learns to stop."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lmlearn.engine.method import Models, StepOutput, count_targets
from lmlearn.errors import LmlearnError
from lmlearn.instruct.formats import Conversation
from lmlearn.instruct.packing import Example, pack, packed_batch, padded_batch, seq2seq_batch
from lmlearn.instruct.templates import IGNORE, prompt_answer_pairs, tokenize_conversation


@dataclass
class Prepared:
    """Training rows (each a list of examples: several when packed, else one) and what went into them."""

    rows: list[list[Example]]
    examples: int
    tokens: int
    assistant_tokens: int
    truncated: int
    dropped: int


def _fit(ids: list[int], labels: list[int], block_size: int, seq2seq: bool) -> tuple[list[int], list[int]]:
    if seq2seq:  # keep the end of a long prompt: the latest turns and the assistant opener matter most
        return ids[-block_size:], labels[:block_size]
    return ids[:block_size], labels[:block_size]


def within_budget(lengths: list[int], budget: int, seed: int) -> list[int]:
    """Indices of examples drawn in a seeded order while their total length stays within `budget` tokens,
    in their original order: two data sets compared at one size in tokens."""
    order = list(range(len(lengths)))
    random.Random(f"token-budget:{seed}").shuffle(order)
    kept, total = [], 0
    for i in order:
        if total + lengths[i] <= budget:
            kept.append(i)
            total += lengths[i]
    return sorted(kept)


def prepare(chats: list[tuple[str, list[Conversation]]], template: str, tokenizer: Any, block_size: int, *,
            seq2seq: bool = False, packed: bool = False, token_budget: int = 0, seed: int = 0) -> Prepared:
    """Tokenize (file:line, conversations) pairs into examples of at most `block_size` tokens, packed into
    rows when `packed`. An encoder-decoder gets one (prompt, answer) example per assistant turn. With a
    `token_budget`, only a seeded sample of examples whose tokens fit in it is kept."""
    examples: list[Example] = []
    cut: list[bool] = []  # whether each kept example lost tokens past the block
    dropped = 0
    for where, conversations in chats:
        for chat in conversations:
            try:
                made = (prompt_answer_pairs(chat, template, tokenizer) if seq2seq
                        else [tokenize_conversation(chat, template, tokenizer)])
            except LmlearnError as e:
                raise LmlearnError(f"{where}: {e}") from None
            for ids, labels in made:
                fitted = _fit(ids, labels, block_size, seq2seq)
                if all(t == IGNORE for t in fitted[1]):  # the answer lies wholly past the block
                    dropped += 1
                else:
                    examples.append(fitted)
                    cut.append(len(fitted[0]) < len(ids) or len(fitted[1]) < len(labels))
    if not examples:
        raise LmlearnError(f"no conversation has an answer within --block-size {block_size}; raise it")
    if token_budget:
        kept = within_budget([len(ids) for ids, _ in examples], token_budget, seed)
        examples, cut = [examples[i] for i in kept], [cut[i] for i in kept]
        if not examples:
            raise LmlearnError(f"--token-budget {token_budget} is smaller than every example; raise it")
    if packed:
        rows = [[examples[i] for i in row] for row in pack([len(ids) for ids, _ in examples], block_size)]
    else:
        rows = [[e] for e in examples]
    return Prepared(rows=rows, examples=len(examples), tokens=sum(len(ids) for ids, _ in examples),
                    assistant_tokens=sum(t != IGNORE for _, labels in examples for t in labels),
                    truncated=sum(cut), dropped=dropped)


class SFT:
    """The objective the shared loop trains with: collate rows of examples, score assistant tokens."""

    def __init__(self, pad_id: int, *, seq2seq: bool = False, packed: bool = False):
        self.pad_id, self.seq2seq, self.packed = pad_id, seq2seq, packed

    def collate(self, rows: list[list[Example]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Packed rows (position ids restart per example), or one padded example per row; no randomness."""
        if self.packed:
            return packed_batch(rows, self.pad_id)
        examples = [e for row in rows for e in row]
        return (seq2seq_batch if self.seq2seq else padded_batch)(examples, self.pad_id)

    def token_losses(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of each next-token prediction of a causal LM, (B, T-1); 0 where the target is not
        an assistant token."""
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        # No cache: with one, transformers skips the packed-sequence mask and attention would cross examples.
        logits = model(**inputs, use_cache=False).logits[:, :-1]
        targets = batch["labels"][:, 1:]
        losses = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE,
                                 reduction="none")
        return losses.view_as(targets)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The mean over the batch's assistant tokens, weighted by their number (token-weighted
        accumulation: a short conversation's tokens count as much as a long one's)."""
        return StepOutput(self.loss(models.model, batch), count_targets(batch, shifted=not self.seq2seq))

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over the batch's assistant tokens."""
        if self.seq2seq:  # the model shifts the answer into decoder inputs and averages over labelled tokens
            return model(**batch, use_cache=False).loss
        return self.token_losses(model, batch).sum() / (batch["labels"][:, 1:] != IGNORE).sum()
