"""BART denoising: corrupt a document with BART's noise functions; the decoder rebuilds the original.

The five noises each have their own rate and combine, applied in fairseq DenoisingDataset's order:
sentence permutation -> masking (token masking, token deletion or text infilling, chosen by
replace_length; length-0 infilling spans insert a <mask>) -> insertion -> document rotation.
<s> and the final </s> never change. The defaults are the paper's final model: text infilling of
30% of the words with Poisson(3) spans, and every sentence permuted.

An example is whole sentences of one document (fairseq's `complete_doc` blocks), framed as
<s> ... </s>, with its sentence starts marked so that permutation can move whole sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import datasets
import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from lmlearn.config import option
from lmlearn.data.documents import documents
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective
from lmlearn.objectives.masking import ordinary_ids

# Tokens that begin a word: byte-level BPE marks a leading space with "Ġ", SentencePiece-style
# vocabularies with "▁" (fairseq builds the same per-vocabulary table from the BPE).
_WORD_MARKS = ("Ġ", "▁")


@dataclass
class DenoiseOptions:
    """BART's noise settings (fairseq's names)."""

    mask_ratio: float = option(0.3, "denoise: share of words noised by masking, deletion or infilling", range="[0, 1]")
    mask_length: Literal["span-poisson", "word", "subword"] = option(
        "span-poisson", "denoise: what is masked: Poisson-length spans of whole words, single words, or single tokens")
    replace_length: int = option(
        1, "denoise: a masked span becomes one <mask> (1, infilling), nothing (0, deletion) or a <mask> per token (-1)")
    random_ratio: float = option(
        0.1, "denoise: share of replacements and insertions that are random tokens, not <mask>", range="[0, 1]")
    insert_ratio: float = option(0.0, "denoise: insert this share of the length as extra <mask> or random tokens",
                                 range="[0, 1]")
    # fairseq's task default is 0.5; the paper's final model and the released BART-large use 0.
    rotate_ratio: float = option(0.0, "denoise: probability of rotating a document to start at a random token",
                                 range="[0, 1]")
    permute_sentence_ratio: float = option(1.0, "denoise: share of each example's sentences shuffled among themselves",
                                           range="[0, 1]")
    # The paper says 3; the released BART-large was trained with 3.5.
    poisson_lambda: float = option(3.0, "denoise: mean span length (in words) of text infilling", range=">0")


class SentenceBlocks:
    """Variable-length examples held flat: (token ids, sentence-start flags) cut out by offsets."""

    def __init__(self, ids: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor):
        self.ids, self.starts = ids, starts
        self.offsets = [0] + lengths.cumsum(0).tolist()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.starts[a:b]


def _sentence_blocks(batch: dict, tokenizer, text_column: str, max_tokens: int) -> dict:
    """Pack the whole sentences of each document into blocks of at most max_tokens (+ <s> and </s>)."""
    docs = documents(datasets.Dataset.from_dict(dict(batch)), text_column)  # rows sharing a `document` merge
    # One call on the whole document keeps its spaces, so the target reads as the text did.
    enc = tokenizer([" ".join(doc) for doc in docs], add_special_tokens=False, return_offsets_mapping=True)
    out: dict[str, list] = {"input_ids": [], "sentence_start": []}
    for doc, ids, offsets in zip(docs, enc["input_ids"], enc["offset_mapping"]):
        first_char = np.cumsum([0] + [len(s) + 1 for s in doc[:-1]])
        # A token goes with the sentence its end falls in: a leading space or a lone space token
        # (the gap before a sentence) goes with the sentence that follows it.
        sentence = np.searchsorted(first_char, [end for _, end in offsets], side="right")
        bounds = np.flatnonzero(np.diff(sentence, prepend=-1)).tolist() + [len(ids)]
        # A sentence longer than a block is cut into block-sized pieces, each then taken as a sentence.
        pieces = [ids[i:min(i + max_tokens, b)] for a, b in zip(bounds, bounds[1:]) for i in range(a, b, max_tokens)]
        blocks: list[list[list[int]]] = [[]]
        for piece in pieces:
            if sum(map(len, blocks[-1])) + len(piece) > max_tokens:
                blocks.append([])
            blocks[-1].append(piece)
        for block in filter(None, blocks):
            out["input_ids"].append([tokenizer.bos_token_id] + sum(block, []) + [tokenizer.eos_token_id])
            out["sentence_start"].append([0] + sum(([1] + [0] * (len(p) - 1) for p in block), []) + [0])
    return out


def _ceil(x: torch.Tensor) -> torch.Tensor:
    # Forgive float error, so that 10 x 0.3 gives 3 tokens, not 4.
    return torch.ceil(x.double() - 1e-6).long()


def _ranks(keys: torch.Tensor) -> torch.Tensor:
    """Each entry's rank within its row: with uniform keys, a random permutation per row."""
    return keys.argsort(1).argsort(1)


def poisson_pmf(lam: float) -> torch.Tensor:
    """Poisson(lam) probabilities of 0, 1, 2, ..., cut where they fall below 1e-7 (fairseq, k < 128)."""
    probs, p = [], math.exp(-lam)
    for k in range(128):
        probs.append(p)
        p *= lam / (k + 1)
        if p < 1e-7 and k >= lam:
            break
    return torch.tensor(probs, dtype=torch.float64)


class BartDenoising(Objective):
    """Reconstruct a document from its noised version (token masking, deletion, infilling, permutation, rotation)."""

    name = "denoise"
    head = "seq2seq-lm"
    families = ('bart',)
    Options = DenoiseOptions

    def __init__(self, cfg: Any, tokenizer: Any = None):
        """Refuse noise settings outside their range, naming the flag."""
        super().__init__(cfg, tokenizer)
        for name in ("mask_ratio", "random_ratio", "insert_ratio", "rotate_ratio", "permute_sentence_ratio"):
            if not 0.0 <= getattr(cfg, name) <= 1.0:
                raise LmlearnError(f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(cfg, name)}")
        if cfg.replace_length not in (-1, 0, 1):
            raise LmlearnError(f"--replace-length must be -1, 0 or 1, got {cfg.replace_length}")
        if cfg.mask_length == "subword" and cfg.replace_length == -1:
            raise LmlearnError("--mask-length subword needs --replace-length 0 or 1 (as in fairseq)")
        if cfg.poisson_lambda <= 0:
            raise LmlearnError(f"--poisson-lambda must be positive, got {cfg.poisson_lambda}")

    @cached_property
    def _word_start(self) -> torch.Tensor:
        tok = self.tokenizer
        table = torch.tensor([t.startswith(_WORD_MARKS) for t in tok.convert_ids_to_tokens(list(range(len(tok))))])
        table[tok.all_special_ids] = True  # specials stand alone, as in fairseq
        return table

    @cached_property
    def _random_ids(self) -> torch.Tensor:
        return ordinary_ids(self.tokenizer)  # unlike fairseq, which draws from [1, |V|), specials included

    @cached_property
    def _pmf(self) -> torch.Tensor:
        return poisson_pmf(self.cfg.poisson_lambda)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> SentenceBlocks:
        """Tokenize documents sentence by sentence and pack whole sentences into examples."""
        if self.cfg.block_size < 3:
            raise LmlearnError(f"--block-size {self.cfg.block_size} leaves no room for text between <s> and </s>")
        blocks = ds.map(_sentence_blocks, batched=True, remove_columns=ds.column_names,
                        fn_kwargs={"tokenizer": self.tokenizer, "text_column": self.cfg.text_column,
                                   "max_tokens": self.cfg.block_size - 2}, desc="packing whole sentences")
        if len(blocks) == 0:
            raise LmlearnError(f"the {what} holds no sentences to denoise; give it some text")
        ids = blocks.data.column("input_ids").combine_chunks()
        starts = blocks.data.column("sentence_start").combine_chunks()
        lengths = torch.from_numpy(ids.value_lengths().to_numpy().astype("int64"))
        return SentenceBlocks(torch.from_numpy(ids.flatten().to_numpy().astype("int64")),
                              torch.from_numpy(starts.flatten().to_numpy().astype(bool)), lengths)

    def collate(self, examples: list[tuple[torch.Tensor, torch.Tensor]],
                generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Noise a batch: input_ids = the noised documents, labels = the originals."""
        cfg, pad = self.cfg, self.tokenizer.pad_token_id
        tokens = pad_sequence([e[0] for e in examples], batch_first=True, padding_value=pad)
        starts = pad_sequence([e[1] for e in examples], batch_first=True, padding_value=False)
        lengths = torch.tensor([len(e[0]) for e in examples])
        labels = tokens.masked_fill(torch.arange(tokens.shape[1]) >= lengths[:, None], -100)
        if cfg.permute_sentence_ratio > 0:
            tokens, starts = self._permute(tokens, starts, lengths, generator)
        keep = torch.arange(tokens.shape[1]) < lengths[:, None]
        n_insert = n_random = torch.zeros_like(lengths)
        if cfg.mask_ratio > 0:
            tokens, keep, n_insert = self._mask(tokens, starts, lengths, generator)
            n_random = _ceil(n_insert * cfg.random_ratio)
        if cfg.insert_ratio > 0:
            extra = _ceil((keep.sum(1) + n_insert) * cfg.insert_ratio)
            n_insert, n_random = n_insert + extra, n_random + _ceil(extra * cfg.random_ratio)
        tokens, lengths = self._rebuild(tokens, keep, n_insert, n_random, generator)
        if cfg.rotate_ratio > 0:
            tokens = self._rotate(tokens, lengths, generator)
        attention_mask = (torch.arange(tokens.shape[1]) < lengths[:, None]).long()
        return {"input_ids": tokens, "attention_mask": attention_mask, "labels": labels}

    def _permute(self, tokens, starts, lengths, g):
        """Shuffle ceil(n * permute_sentence_ratio) of each row's n sentences among themselves."""
        batch, width = tokens.shape
        pos = torch.arange(width)
        interior = (pos >= 1) & (pos < lengths[:, None] - 1)
        starts = starts & interior
        sentence = (starts.cumsum(1) - 1).clamp(min=0)
        n = starts.sum(1)
        idx = torch.arange(max(int(n.max()), 1)).expand(batch, -1)
        size = torch.zeros_like(idx).scatter_add_(1, sentence, interior.long())
        keys = torch.rand(idx.shape, generator=g).masked_fill(idx >= n[:, None], 2.0)
        chosen = _ranks(keys) < _ceil(n * self.cfg.permute_sentence_ratio)[:, None]
        # The chosen slots, in order, receive the chosen sentences in random order; the rest stay.
        slots = torch.where(chosen, idx, idx + idx.shape[1]).argsort(1)
        moved = torch.where(chosen, torch.rand(idx.shape, generator=g), 1.0 + idx).argsort(1)
        order = torch.empty_like(idx).scatter_(1, slots, moved)  # order[slot] = the sentence put there
        new_size = size.gather(1, order)
        new_first = 1 + new_size.cumsum(1) - new_size
        shift = new_first.gather(1, order.argsort(1)) - (1 + size.cumsum(1) - size)
        dest = torch.where(interior, pos + shift.gather(1, sentence), pos)
        return tokens.scatter(1, dest, tokens), torch.zeros_like(starts).scatter(1, dest, starts)

    def _mask(self, tokens, starts, lengths, g):
        """Noise ceil(mask_ratio * #words) whole words in spans that do not overlap.

        fairseq starts its spans at independent random word starts, so overlaps make it noise
        somewhat fewer words than asked; placing them apart keeps the ratio the paper states.
        Returns the tokens, which of them to keep, and the <mask> count that length-0 spans insert.
        """
        cfg, batch, width = self.cfg, *tokens.shape
        pos = torch.arange(width)
        interior = (pos >= 1) & (pos < lengths[:, None] - 1)
        word_start = interior if cfg.mask_length == "subword" else interior & (self._word_start[tokens] | starts)
        n_words = word_start.sum(1)
        n_mask = _ceil(n_words * cfg.mask_ratio)
        span_len, n_spans, n_empty = self._span_lengths(n_mask, g)
        # Arrange the spans and the untouched words in a random order: item i starts at word first[i].
        n_items = n_words - n_mask + n_spans
        items = torch.arange(max(int(n_items.max()), 1)).expand(batch, -1)
        rank = _ranks(torch.rand(items.shape, generator=g).masked_fill(items >= n_items[:, None], 2.0))
        is_span = rank < n_spans[:, None]
        size = torch.where(is_span, span_len.gather(1, rank.clamp(max=span_len.shape[1] - 1)), 1)
        first = size.cumsum(1) - size
        spare = int(n_words.max()) + 1  # a column for the items that are not spans
        edges = torch.zeros(batch, spare + 1, dtype=torch.long)
        edges.scatter_add_(1, torch.where(is_span, first, spare), is_span.long())
        edges.scatter_add_(1, torch.where(is_span, first + size, spare), -is_span.long())
        heads = torch.zeros(batch, spare + 1, dtype=torch.bool).scatter_(1, torch.where(is_span, first, spare), True)
        word = (word_start.cumsum(1) - 1).clamp(min=0)
        masked = interior & (edges[:, :spare].cumsum(1) > 0).gather(1, word)
        head = word_start & heads.gather(1, word)
        # A span is random tokens (each token its own) or <mask>, decided once per span.
        span_head = torch.where(head, pos, 0).cummax(1).values
        random = masked & (torch.rand(tokens.shape, generator=g) < cfg.random_ratio).gather(1, span_head)
        keep = pos < lengths[:, None]
        if cfg.replace_length == 0:
            keep &= ~masked
        elif cfg.replace_length == 1:
            keep &= ~masked | head
        replaced = masked if cfg.replace_length == -1 else head & keep
        tokens = tokens.masked_fill(replaced, self.tokenizer.mask_token_id)
        tokens = torch.where(replaced & random, self._draw_random(tokens.shape, g), tokens)
        return tokens, keep, n_empty

    def _span_lengths(self, n_mask, g):
        """Per row, span lengths summing to n_mask (nonzero ones first), their count, and the length-0 count."""
        k = max(int(n_mask.max()), 1)
        if self.cfg.mask_length != "span-poisson":
            lengths = (torch.arange(k) < n_mask[:, None]).long()
            return lengths, n_mask, torch.zeros_like(n_mask)
        draws = torch.multinomial(self._pmf, len(n_mask) * k, replacement=True, generator=g).view(-1, k)
        while (draws.sum(1) < n_mask).any():  # as fairseq: draw until the budget is met
            more = torch.multinomial(self._pmf, len(n_mask) * k, replacement=True, generator=g)
            draws = torch.cat([draws, more.view(-1, k)], 1)
        total = draws.cumsum(1)
        last = (total < n_mask[:, None]).sum(1)  # the draw that reaches the budget is cut to fit it
        before = total.gather(1, (last - 1).clamp(min=0)[:, None]).squeeze(1) * (last > 0)
        j = torch.arange(draws.shape[1])
        used = (j <= last[:, None]) & (n_mask[:, None] > 0)
        lengths = torch.where(j == last[:, None], (n_mask - before)[:, None], draws) * used
        n_empty = (used & (lengths == 0)).sum(1)
        lengths = lengths.gather(1, (lengths == 0).to(torch.int8).argsort(dim=1, stable=True))
        return lengths, (lengths > 0).sum(1), n_empty

    def _rebuild(self, tokens, keep, n_insert, n_random, g):
        """Drop the tokens not kept and insert n_insert tokens (n_random random, the rest <mask>)
        at random interior places; returns the new tokens and lengths."""
        lengths = keep.sum(1) + n_insert
        width = int(lengths.max())
        pos = torch.arange(width)
        keys = torch.rand(len(tokens), width, generator=g)
        rank = _ranks(keys.masked_fill((pos < 1) | (pos > lengths[:, None] - 2), 2.0))
        inserted = rank < n_insert[:, None]
        free = torch.where(~inserted & (pos < lengths[:, None]), pos, width).sort(1).values
        dest = torch.where(keep, free.gather(1, (keep.cumsum(1) - 1).clamp(0, width - 1)), width)
        out = torch.full((len(tokens), width + 1), self.tokenizer.pad_token_id).scatter_(1, dest, tokens)[:, :width]
        out = out.masked_fill(inserted, self.tokenizer.mask_token_id)
        out = torch.where(rank < n_random[:, None], self._draw_random(out.shape, g), out)
        return out, lengths

    def _rotate(self, tokens, lengths, g):
        """With probability rotate_ratio, start the interior at a random token (a cyclic shift)."""
        inner = (lengths - 2).clamp(min=1)
        rotate = torch.rand(len(tokens), generator=g) < self.cfg.rotate_ratio
        shift = (torch.rand(len(tokens), generator=g) * inner).long() * rotate
        pos = torch.arange(tokens.shape[1])
        source = 1 + (pos - 1 + shift[:, None]) % inner[:, None]
        return tokens.gather(1, torch.where((pos >= 1) & (pos < lengths[:, None] - 1), source, pos))

    def _draw_random(self, shape, g) -> torch.Tensor:
        return self._random_ids[torch.randint(len(self._random_ids), shape, generator=g)]
