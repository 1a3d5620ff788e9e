"""Masking shared by the BERT-style objectives (mlm, mlm+nsp, mlm+sop): which positions to predict
and what the model sees there.

Every function works on a whole padded batch with tensor ops (ALBERT's n-gram choice loops over
the n-grams of each row, never over tokens), and every draw comes from the caller's generator,
so the training loop can replay a batch exactly.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from lmlearn.errors import LmlearnError

IGNORE = -100  # the label of a position without a loss (CrossEntropyLoss's ignore_index)

# A piece that starts with one of these begins a word: SentencePiece's "▁" (our WordPiece and
# Unigram tokenizers), byte-level BPE's "Ġ" (a space) and "Ċ" (a newline), or a raw newline.
_WORD_MARKS = ("▁", "Ġ", "Ċ", "\n")


@dataclass(frozen=True)
class VocabTables:
    """Per-id lookup tables of a tokenizer, so a batch's specials and word starts are one gather each."""

    special: torch.Tensor  # (V,) bool: special tokens and pad, never predicted
    word_start: torch.Tensor  # (V,) bool: the piece begins a word
    ordinary: torch.Tensor  # the non-special ids random replacements are drawn from
    mask_id: int

    def word_starts(self, ids: torch.Tensor) -> torch.Tensor:
        """True where a token of `ids` (any shape) begins a word."""
        special = self.special[ids]
        # The first piece of a text carries no space mark in byte-level BPE, and truncation can leave
        # a "##" piece right after [CLS] or [SEP]: a piece after a special token always starts a word.
        after_special = torch.ones_like(special)
        after_special[..., 1:] = special[..., :-1]
        return self.word_start[ids] | special | after_special


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vocab_tables(tokenizer) -> VocabTables:
    """The lookup tables of `tokenizer`, built once per tokenizer."""
    tables = _TABLES.get(tokenizer)
    if tables is None:
        tables = _TABLES[tokenizer] = _build_tables(tokenizer)
    return tables


def ordinary_ids(tokenizer) -> torch.Tensor:
    """The non-special token ids: the pool random replacements come from, so a random token can
    never fake padding, a separator or an end of text."""
    special = {i for i in tokenizer.all_special_ids if i is not None}
    return torch.tensor([i for i in range(len(tokenizer)) if i not in special])


def _build_tables(tokenizer) -> VocabTables:
    if tokenizer.mask_token_id is None:
        raise LmlearnError("masked language modelling needs a tokenizer with a mask token; this one has none")
    size = len(tokenizer)
    pieces = [piece or "" for piece in tokenizer.convert_ids_to_tokens(list(range(size)))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = backend.model if backend is not None else None
    if type(model).__name__ == "WordPiece":
        # WordPiece marks the continuation instead ("##"); a piece without the prefix starts a word.
        prefix = model.continuing_subword_prefix
        starts = [not piece.startswith(prefix) for piece in pieces]
    else:
        starts = [piece.startswith(_WORD_MARKS) for piece in pieces]
    special = torch.zeros(size, dtype=torch.bool)
    special[sorted({i for i in tokenizer.all_special_ids if i is not None and i < size})] = True
    return VocabTables(special=special, word_start=torch.tensor(starts, dtype=torch.bool),
                       ordinary=ordinary_ids(tokenizer), mask_id=tokenizer.mask_token_id)


def word_starts(tokenizer, ids: torch.Tensor) -> torch.Tensor:
    """True where a token begins a word (bpe "Ġ", wordpiece no "##", unigram "▁"), for ids of any shape."""
    return vocab_tables(tokenizer).word_starts(ids)


def select_units(candidates: torch.Tensor, starts: torch.Tensor, probability: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Choose `probability` of each row's units (tokens, or whole words where `starts` marks word starts).

    A row with n candidate units gets k = floor(p·n + U(0,1)) of them, drawn without replacement:
    fairseq's probabilistic rounding, so the expected share is exactly p, whole-word or not. k is at
    least 1, as in BERT, so no row is left without a target. Returns the chosen token positions.
    """
    unit = starts & candidates
    count = unit.sum(1)
    draw = torch.floor(probability * count + torch.rand(count.shape, generator=generator)).long()
    k = draw.clamp(min=1).minimum(count)
    scores = torch.rand(unit.shape, generator=generator).masked_fill(~unit, 2.0)
    order = scores.argsort(1)
    positions = torch.arange(unit.shape[1]).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, positions)
    chosen_start = rank < k[:, None]
    # Every piece belongs to the word of the last unit start at or before it.
    owner = torch.where(unit, positions, 0).cummax(1).values
    return chosen_start.gather(1, owner) & candidates


def corrupt(ids: torch.Tensor, selected: torch.Tensor, tables: VocabTables,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 per selected piece: [MASK], a random ordinary token, or unchanged; labels -100 elsewhere."""
    r = torch.rand(ids.shape, generator=generator)
    random_ids = tables.ordinary[torch.randint(len(tables.ordinary), ids.shape, generator=generator)]
    inputs = torch.where(selected & (r < 0.8), tables.mask_id, ids)
    inputs = torch.where(selected & (r >= 0.9), random_ids, inputs)
    return inputs, ids.masked_fill(~selected, IGNORE)


def mask_tokens(ids: torch.Tensor, tables: VocabTables, probability: float, generator: torch.Generator,
                whole_word: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-LM inputs and labels for a padded (B, L) batch; special tokens and pad are never chosen."""
    candidates = ~tables.special[ids]
    starts = tables.word_starts(ids) if whole_word else candidates
    return corrupt(ids, select_units(candidates, starts, probability, generator), tables, generator)


def ngram_lengths(available: torch.Tensor, max_n: int, generator: torch.Generator) -> torch.Tensor:
    """ALBERT's n-gram lengths, n ∈ 1..max_n with p(n) ∝ 1/n, renormalised over n ≤ the words `available`."""
    weights = 1.0 / torch.arange(1, max_n + 1, dtype=torch.float64)
    allowed = torch.arange(max_n)[None, :] < torch.arange(1, max_n + 1)[:, None]  # row a-1: n ≤ a
    cdf = (weights * allowed).cumsum(1) / (weights * allowed).sum(1, keepdim=True)
    u = torch.rand(available.shape, generator=generator, dtype=torch.float64)
    rows = cdf[available.clamp(1, max_n) - 1]
    return 1 + (u.unsqueeze(-1) > rows[..., :-1]).sum(-1)


def select_ngrams(candidates: torch.Tensor, starts: torch.Tensor, budget: torch.Tensor, max_n: int,
                  generator: torch.Generator) -> torch.Tensor:
    """ALBERT's n-gram masking (google-research/albert create_masked_lm_predictions) over whole words.

    Word starts are visited in random order; each draws n words, shortened while they would overflow
    the row's token budget; an n-gram that still overflows or touches a chosen word is skipped.
    """
    unit = starts & candidates
    n_words = unit.sum(1)
    word = (unit.cumsum(1) - 1).clamp(min=0)  # word index of each piece
    word_len = torch.zeros_like(word).scatter_add_(1, word, candidates.long())
    lengths = ngram_lengths(n_words[:, None] - word, max_n, generator)
    order = torch.rand(unit.shape, generator=generator).masked_fill(~unit, 2.0).argsort(1)
    chosen = torch.zeros_like(unit)
    for row in range(unit.shape[0]):
        count = int(n_words[row])
        starts_row = order[row, :count]
        firsts, ns = word[row, starts_row].tolist(), lengths[row, starts_row].tolist()
        ends = word_len[row, :count].cumsum(0).tolist()
        taken = _greedy_ngrams(firsts, ns, [0] + ends, int(budget[row]))
        chosen[row, taken] = True
    return chosen.gather(1, word) & candidates


def _greedy_ngrams(firsts: list[int], ns: list[int], ends: list[int], budget: int) -> list[int]:
    """The words ALBERT's loop picks; ends[w] is the piece count of words before w."""
    covered = [False] * (len(ends) - 1)
    taken: list[int] = []
    used = 0
    for first, n in zip(firsts, ns):
        if used >= budget:
            break
        while n > 1 and used + ends[first + n] - ends[first] > budget:
            n -= 1
        size = ends[first + n] - ends[first]
        if used + size > budget or any(covered[first:first + n]):
            continue
        covered[first:first + n] = [True] * n
        taken.extend(range(first, first + n))
        used += size
    return taken
