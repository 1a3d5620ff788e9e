"""T5 span corruption: drop spans of ≈15% of the tokens from the encoder input and have the
decoder write them back, each span behind the sentinel that replaced it.

The shape follows google-research/text-to-text-transfer-transformer (preprocessors.py,
span_corruption) and HF run_t5_mlm_flax.py: a raw block of T tokens becomes an input of exactly
`--block-size` tokens, so T is chosen larger than the block (512 → 568, 128 → 141).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets
import torch

from lmlearn.config import option
from lmlearn.data.blocks import blocks_tensor, pack_blocks
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective


@dataclass
class SpanCorruptionOptions:
    """Settings of T5 span corruption."""

    noise_density: float = option(0.15, "t5: fraction of each block's tokens that are corrupted", range="(0, 1)")
    mean_noise_span_length: float = option(3.0, "t5: mean length of a corrupted span", range=">0")


def noise_counts(length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int]:
    """(noise tokens, noise spans) in a block of `length` tokens, as T5's random_spans_noise_mask counts them."""
    # Python's round, like tf.round, rounds halves to even; the clips keep one token on each side.
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    return num_noise, max(1, round(num_noise / mean_noise_span_length))


def compute_input_and_target_lengths(inputs_length: int, noise_density: float,
                                     mean_noise_span_length: float) -> tuple[int, int]:
    """(raw block length T, target length) for encoder inputs of exactly `inputs_length` tokens."""
    def lengths(raw: int) -> tuple[int, int]:
        num_noise, num_spans = noise_counts(raw, noise_density, mean_noise_span_length)
        # the input keeps the non-noise tokens, one sentinel per span and </s>; the target the rest
        return raw - num_noise + num_spans + 1, num_noise + num_spans + 1

    # The input length never falls and rises by at most one as T grows, so every length from the
    # shortest block's up is reached exactly; as in the HF script, the largest such T is taken.
    raw = 2
    if lengths(raw)[0] > inputs_length:
        raise LmlearnError(f"--block-size {inputs_length} is too short for t5 span corruption; "
                           f"use at least {lengths(raw)[0]}")
    while lengths(raw + 1)[0] <= inputs_length:
        raw += 1
    return raw, lengths(raw)[1]


def random_segment_lengths(total: int, segments: int, rows: int, generator: torch.Generator) -> torch.Tensor:
    """(rows, segments) lengths, each row splitting `total` items into non-empty segments uniformly at random."""
    # A uniformly random choice of segments−1 cut points among the total−1 gaps between items.
    cuts = torch.rand(rows, total - 1, generator=generator).argsort(dim=1)[:, :segments - 1].sort(dim=1).values + 1
    bounds = torch.cat([torch.zeros(rows, 1, dtype=torch.long), cuts, torch.full((rows, 1), total)], dim=1)
    return bounds.diff(dim=1)


def random_spans_noise_mask(rows: int, length: int, noise_density: float, mean_noise_span_length: float,
                            generator: torch.Generator) -> torch.Tensor:
    """(rows, length) bool mask of noise spans; spans alternate non-noise, noise, ..., ending with noise."""
    num_noise, num_spans = noise_counts(length, noise_density, mean_noise_span_length)
    noise = random_segment_lengths(num_noise, num_spans, rows, generator)
    kept = random_segment_lengths(length - num_noise, num_spans, rows, generator)
    starts = torch.stack([kept, noise], dim=2).view(rows, -1).cumsum(dim=1)[:, :-1]
    span_start = torch.zeros(rows, length, dtype=torch.long).scatter_(1, starts, 1)
    return span_start.cumsum(dim=1) % 2 == 1


def replace_spans(tokens: torch.Tensor, mask: torch.Tensor, sentinels: torch.Tensor) -> torch.Tensor:
    """Each run of True in `mask` becomes one sentinel, the j-th run sentinels[j]; rows keep equal lengths."""
    previous = torch.cat([torch.zeros_like(mask[:, :1]), mask[:, :-1]], dim=1)
    first = mask & ~previous
    span = (first.cumsum(dim=1) - 1).clamp(min=0)
    replaced = torch.where(first, sentinels[span], tokens)
    return replaced[~(mask & previous)].view(tokens.shape[0], -1)


def span_corruption(tokens: torch.Tensor, noise_density: float, mean_noise_span_length: float,
                    sentinels: torch.Tensor, eos_id: int,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for (rows, T) blocks: inputs keep the non-noise tokens, targets the noise; both end in eos."""
    rows, length = tokens.shape
    noise = random_spans_noise_mask(rows, length, noise_density, mean_noise_span_length, generator)
    eos = torch.full((rows, 1), eos_id, dtype=tokens.dtype)
    inputs = torch.cat([replace_spans(tokens, noise, sentinels), eos], dim=1)
    targets = torch.cat([replace_spans(tokens, ~noise, sentinels), eos], dim=1)
    return inputs, targets


class SpanCorruption(Objective):
    """T5's span corruption on packed blocks, for T5ForConditionalGeneration."""

    name = "t5"
    head = "seq2seq-lm"
    families = ("t5",)
    Options = SpanCorruptionOptions

    def __init__(self, cfg: Any, tokenizer: Any):
        super().__init__(cfg, tokenizer)
        if not 0 < cfg.noise_density < 1:
            raise LmlearnError(f"--noise-density {cfg.noise_density} must be between 0 and 1")
        if cfg.mean_noise_span_length < 1:
            raise LmlearnError(f"--mean-noise-span-length {cfg.mean_noise_span_length} must be at least 1")
        self.raw_length, self.target_length = compute_input_and_target_lengths(
            cfg.block_size, cfg.noise_density, cfg.mean_noise_span_length)
        num_spans = noise_counts(self.raw_length, cfg.noise_density, cfg.mean_noise_span_length)[1]
        # Looked up by name: our tokenizers number <extra_id_0..99> upwards from the bottom of the
        # vocabulary, where Google's T5 vocabulary puts <extra_id_0> at the top (32099) and counts down.
        names = [f"<extra_id_{j}>" for j in range(num_spans)]
        ids = tokenizer.convert_tokens_to_ids(names)
        missing = [name for name, i in zip(names, ids) if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise LmlearnError(f"t5 span corruption needs {num_spans} sentinel tokens at --block-size {cfg.block_size} "
                               f"but the tokenizer lacks {missing[0]}; use a smaller --block-size or a t5 tokenizer")
        self.sentinels = torch.tensor(ids)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Tokenize and pack `ds` into an (N, T) tensor of raw blocks, with </s> between documents."""
        blocks = pack_blocks(ds, self.tokenizer, text_column=self.cfg.text_column, block_size=self.raw_length)
        return blocks_tensor(blocks, what)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Corrupt every block at once: inputs of block_size tokens, labels of target_length tokens."""
        inputs, labels = span_corruption(examples, self.cfg.noise_density, self.cfg.mean_noise_span_length,
                                         self.sentinels, self.tokenizer.eos_token_id, generator)
        # T5ForConditionalGeneration shifts the labels right behind decoder_start_token_id (pad) itself.
        return {"input_ids": inputs, "labels": labels}
