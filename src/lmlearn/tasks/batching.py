"""Padding examples of different lengths into one batch."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from lmlearn.data.blocks import pad_rows


def pad_inputs(examples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (and token_type_ids when the examples carry them)."""
    ids = [e["input_ids"] for e in examples]
    batch = {"input_ids": pad_rows(ids, pad_id), "attention_mask": pad_rows([[1] * len(s) for s in ids], 0)}
    if "token_type_ids" in examples[0]:
        batch["token_type_ids"] = pad_rows([e["token_type_ids"] for e in examples], 0)
    return batch
