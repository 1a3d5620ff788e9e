"""XLNet's permutation language modelling, as Hugging Face's DataCollatorForPermutationLanguageModeling does it.

Per row, the block is cut into context windows; each window of length int(span / plm_probability)
holds one masked span of span ~ U{1..max_span_length} tokens, so about plm_probability of the
tokens are predicted. A random factorisation order decides which masked tokens a masked token may
see (those before it in the order); unmasked tokens see only each other, never a masked token.
The order permutes the two halves of the block alike and keeps the first half before the second:
with half the block reused as memory (XLNet's reuse_len = seq_len / 2) nothing can leak across,
which is why the length must be even. As in the Hugging Face collator (not the paper) the masked
inputs become <mask>. Unlike it, only the masked positions are queries (see `prediction_targets`).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import torch
import torch.nn.functional as F

from lmlearn.config import option
from lmlearn.data.blocks import framed_blocks
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective


@dataclass
class PermutationLMOptions:
    """Settings of the `plm` objective."""

    plm_probability: float = option(1 / 6, "plm: fraction of tokens to predict (one span per span/p-token window)",
                                    range="(0, 1)")
    max_span_length: int = option(5, "plm: longest masked span, in tokens", range=">=1")


def plm_spans(shape: tuple[int, int], plm_probability: float, max_span_length: int,
              generator: torch.Generator) -> torch.Tensor:
    """A (B, L) bool mask of spans, one per context window, drawn for all rows at once."""
    rows, length = shape
    shortest_window = int(1 / plm_probability)
    windows = -(-length // shortest_window)  # enough windows to cover the row even if every span is 1 long
    span = torch.randint(1, max_span_length + 1, (rows, windows), generator=generator)
    # int() of a float division, exactly as the collator computes it
    context = torch.floor(span.double() / plm_probability).long()
    window_start = torch.cumsum(context, dim=1) - context
    offset = torch.floor(torch.rand(rows, windows, generator=generator, dtype=torch.float64)
                         * (context - span + 1)).long()
    start = (window_start + offset).clamp(max=length)
    end = (start + span).clamp(max=length)
    live = window_start < length  # windows past the end of the row draw but mask nothing
    # Spans never overlap (one per window), so +1 at each start and -1 at each end, summed, marks them.
    edges = torch.zeros(rows, length + 1, dtype=torch.long)
    edges.scatter_add_(1, start, live.long())
    edges.scatter_add_(1, end, -live.long())
    return edges.cumsum(dim=1)[:, :length] > 0


def permutation_mask(masked: torch.Tensor, functional: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """perm_mask (B, L, L), 1 where i may not attend to j, from a random factorisation order per row."""
    rows, length = masked.shape
    half = length // 2
    order = torch.argsort(torch.rand(rows, half, generator=generator), dim=1)
    # the same permutation on both halves; the second half comes after the first in the order
    index = torch.cat([order, order + half], dim=1)
    # Unmasked real tokens go first in the order: everyone may see them, and they see no masked token.
    index = index.masked_fill(~masked & ~functional, -1)
    return ((index[:, :, None] <= index[:, None, :]) & masked[:, None, :]).float()


def plm_batch(input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, plm_probability: float,
              max_span_length: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """XLNetLMHeadModel inputs for blocks `input_ids` (B, L); `special` marks special tokens and pad."""
    rows, length = input_ids.shape
    if not 0 < plm_probability <= 1 or max_span_length < 1:
        raise LmlearnError(f"plm needs 0 < --plm-probability <= 1 and --max-span-length >= 1, "
                           f"got {plm_probability} and {max_span_length}")
    if length % 2:
        raise LmlearnError(f"permutation LM needs an even sequence length (its two halves are permuted alike), "
                           f"got {length}")
    masked = plm_spans((rows, length), plm_probability, max_span_length, generator) & ~special
    target_mapping, labels = prediction_targets(input_ids, masked)
    return {
        "input_ids": input_ids.masked_fill(masked, mask_id),
        "perm_mask": permutation_mask(masked, special, generator),
        "target_mapping": target_mapping,
        "labels": labels,
    }


def prediction_targets(input_ids: torch.Tensor, masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """target_mapping (B, P, L) and labels (B, P) for the masked positions, P = the most in a row.

    The collator queries every position (target_mapping = I_L) and drops the unmasked ones through
    -100 labels. Each query is computed on its own (the query stream attends only to the content
    stream), so querying just the masked positions, as XLNet's num_predict does, gives the same loss
    with about 1/6 of the query-stream work.
    """
    rows, length = masked.shape
    count = masked.sum(1)
    predict = max(1, int(count.max()))
    position = torch.sort((~masked).byte(), dim=1, stable=True).indices[:, :predict]  # masked first, in order
    real = torch.arange(predict) < count[:, None]
    target_mapping = F.one_hot(position, length).float() * real[:, :, None]
    labels = torch.where(real, input_ids.gather(1, position), -100)
    return target_mapping, labels


class PermutationLM(Objective):
    """XLNet permutation LM: predict masked spans in a random factorisation order (two-stream attention)."""

    name = "plm"
    head = "causal-lm"
    families = ("xlnet",)
    Options = PermutationLMOptions

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Pack `ds` into blocks framed as XLNet frames one segment: tokens, then <sep> <cls>."""
        size = self.cfg.block_size
        if size % 2:
            raise LmlearnError(f"--block-size {size} is odd; plm permutes the two halves of a block alike, "
                               "so give an even block size")
        tok = self.tokenizer
        return framed_blocks(ds, tok, text_column=self.cfg.text_column, block_size=size, head=[],
                             tail=[tok.sep_token_id, tok.cls_token_id], what=what)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Spans to predict, masked inputs, a factorisation order as perm_mask, and labels."""
        tok = self.tokenizer
        special = torch.isin(examples, torch.tensor(tok.all_special_ids))
        return plm_batch(examples, special, tok.mask_token_id, self.cfg.plm_probability,
                         self.cfg.max_span_length, generator)
