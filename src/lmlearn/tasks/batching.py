"""Padding examples of different lengths into one batch."""

from __future__ import annotations

from typing import Any, Sequence

import torch


def pad(sequences: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """A (batch, longest) LongTensor of right-padded sequences."""
    longest = max(len(s) for s in sequences)
    out = torch.full((len(sequences), longest), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def pad_inputs(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (and token_type_ids when the examples carry them)."""
    ids = [e["input_ids"] for e in examples]
    batch = {"input_ids": pad(ids, pad_id), "attention_mask": pad([[1] * len(s) for s in ids], 0)}
    if "token_type_ids" in examples[0]:
        batch["token_type_ids"] = pad([e["token_type_ids"] for e in examples], 0)
    return batch
