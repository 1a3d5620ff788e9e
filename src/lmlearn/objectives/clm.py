"""Causal language modelling (GPT): predict each token from the ones before it.

Text is packed into contiguous blocks with an end-of-text token between documents (GPT-2).
The labels are the inputs themselves: Hugging Face causal-LM heads shift them inside the model,
so shifting here as well would train the model to predict two tokens ahead.
"""

from __future__ import annotations

import datasets
import torch

from lmlearn.data.blocks import blocks_tensor, pack_blocks
from lmlearn.families import DECODERS
from lmlearn.objectives.base import Objective


class CausalLM(Objective):
    """Next-token prediction on packed blocks."""

    name = "clm"
    head = "causal-lm"
    families = DECODERS

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Tokenize and pack `ds` into an (N, block_size) tensor of token ids."""
        blocks = pack_blocks(ds, self.tokenizer, text_column=self.cfg.text_column, block_size=self.cfg.block_size)
        return blocks_tensor(blocks, what)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Blocks need no padding and no randomness: inputs are their own labels."""
        return {"input_ids": examples, "labels": examples}
