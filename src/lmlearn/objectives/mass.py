"""mass: masked sequence-to-sequence pre-training (Song et al., 2019).

One contiguous fragment of round(mass_fragment_ratio * length) tokens is masked in the encoder
input, and the decoder predicts that fragment, one token after another, from the fragment shifted
right (so its first input is the token before the fragment). The loss covers the fragment only.
Following microsoft/MASS (restricted_mask_sent): the fragment sits at the start 20% of the time,
at the end 20% and anywhere 60%; position 0 is never masked; each fragment token becomes the mask
80% of the time, a random token 10% and stays 10%.

MASS trains on sentences of up to 100 tokens; here an example is a packed block of --block-size
tokens (<s> ... </s> for BART, ... </s> for T5), so every row has the same fragment length and the
batch is built with a few tensor operations.

The paper runs the decoder at the fragment's original positions. T5 has no absolute positions (its
relative position buckets see only distances between decoder tokens), so there it makes no
difference. BART's decoder numbers its inputs from 0 and its forward takes no position ids
(transformers' BartDecoder builds arange(length) itself), so for BART the decoder sees the
fragment at positions 0..m-1: a deviation from the paper. The encoder still shows where the
fragment was (the masks sit there), and the first decoder input is the token before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import datasets
import torch

from lmlearn.config import option
from lmlearn.data.blocks import blocks_tensor, pack_blocks
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective
from lmlearn.objectives.masking import ordinary_ids

PLACEMENT = (0.2, 0.2)  # P(fragment at the start), P(fragment at the end); otherwise anywhere
MASK, RANDOM = 0.8, 0.1  # what a fragment token becomes in the encoder input; the rest stay


@dataclass
class MassOptions:
    """MASS settings."""

    mass_fragment_ratio: float = option(0.5, "mass: length of the masked fragment as a share of the example",
                                        range="(0, 1]")


class MASS(Objective):
    """Predict a masked fragment of the input with the decoder."""

    name = "mass"
    head = "seq2seq-lm"
    families = ('bart', 't5')
    Options = MassOptions

    def __init__(self, cfg: Any, tokenizer: Any = None):
        """Refuse a fragment ratio that leaves nothing to mask or nothing to see."""
        super().__init__(cfg, tokenizer)
        if not 0.0 < cfg.mass_fragment_ratio < 1.0:
            raise LmlearnError(f"--mass-fragment-ratio must be between 0 and 1, got {cfg.mass_fragment_ratio}")

    @cached_property
    def mask_id(self) -> int:
        """<mask> for BART; T5 tokenizers have none, so its first sentinel <extra_id_0> stands in."""
        if self.tokenizer.mask_token_id is not None:
            return self.tokenizer.mask_token_id
        sentinel = self.tokenizer.convert_tokens_to_ids("<extra_id_0>")
        if sentinel is None or sentinel == self.tokenizer.unk_token_id:
            raise LmlearnError("MASS needs a tokenizer with a <mask> or <extra_id_0> token; this one has neither")
        return sentinel

    @cached_property
    def _random_ids(self) -> torch.Tensor:
        return ordinary_ids(self.tokenizer)  # unlike MASS, which draws from the whole vocabulary

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Pack text into (N, block_size) blocks framed as the family frames a sequence."""
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        head, tail = [bos] if bos is not None else [], [eos]
        inner = self.cfg.block_size - len(head) - len(tail)
        if inner < 2:
            raise LmlearnError(f"--block-size {self.cfg.block_size} is too small for MASS; use at least 4")
        blocks = blocks_tensor(pack_blocks(ds, self.tokenizer, text_column=self.cfg.text_column,
                                           block_size=inner), what)
        frame = [torch.tensor(ids, dtype=torch.long).expand(len(blocks), -1) for ids in (head, tail)]
        return torch.cat([frame[0], blocks, frame[1]], dim=1)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Mask one fragment per row; the decoder gets the fragment shifted right and predicts it."""
        batch, length = examples.shape
        size = min(max(round(length * self.cfg.mass_fragment_ratio), 1), length - 1)
        u = torch.rand(batch, generator=generator)
        anywhere = 1 + (torch.rand(batch, generator=generator) * (length - size)).long()
        start = torch.where(u < PLACEMENT[0], 1, torch.where(u < sum(PLACEMENT), length - size, anywhere))
        where = start[:, None] + torch.arange(size)
        fragment = examples.gather(1, where)
        roll = torch.rand(batch, size, generator=generator)
        random = self._random_ids[torch.randint(len(self._random_ids), (batch, size), generator=generator)]
        noised = torch.where(roll < MASK, self.mask_id, torch.where(roll < MASK + RANDOM, random, fragment))
        return {"input_ids": examples.scatter(1, where, noised),
                "decoder_input_ids": examples.gather(1, where - 1),
                "labels": fragment}
