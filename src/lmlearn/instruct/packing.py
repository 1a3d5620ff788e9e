"""Packing tokenized examples into rows of --block-size, and the batches the two layouts make.

A packed row holds several examples back to back, no padding between them, each with `position_ids`
counting from 0. Given position ids and no attention mask, transformers 5 starts a new sequence
wherever the positions do not rise by one (`masking_utils.find_packed_sequence_indices`) and builds a
block-diagonal causal mask for sdpa, eager, flash and flex attention alike, so no token attends to
another example and positions restart per example. A 4D mask would do the same, but eager attention
adds it as a float bias while sdpa takes booleans, and flash attention takes none.
The families this is verified for (tests/test_instruct.py) are PACKING_FAMILIES.
"""

from __future__ import annotations

import bisect

import torch

from lmlearn.data.blocks import pad_rows
from lmlearn.families import DECODERS
from lmlearn.instruct.templates import IGNORE

PACKING_FAMILIES = DECODERS
Example = tuple[list[int], list[int]]  # (input_ids, labels)


def pack(lengths: list[int], block_size: int) -> list[list[int]]:
    """Group example indices into rows of at most `block_size` tokens, greedily (best fit, longest first)."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (tokens still free, row), kept sorted
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if lengths[i] > block_size:
            raise ValueError(f"example {i} has {lengths[i]} tokens, more than the block size {block_size}")
        k = bisect.bisect_left(free, (lengths[i], -1))
        if k == len(free):
            rows.append([i])
            space, row = block_size - lengths[i], len(rows) - 1
        else:
            space, row = free.pop(k)
            rows[row].append(i)
            space -= lengths[i]
        if space > 0:
            bisect.insort(free, (space, row))
    return rows


def packed_batch(rows: list[list[Example]], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows of concatenated examples with restarting `position_ids` and no attention mask; the padding
    after a row's last example gets positions of its own, so it is a separate (unlabelled) sequence."""
    width = max(sum(len(ids) for ids, _ in row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        at = 0
        for ids, labs in row:
            n = len(ids)
            input_ids[b, at:at + n] = torch.tensor(ids)
            labels[b, at:at + n] = torch.tensor(labs)
            position_ids[b, at:at + n] = torch.arange(n)
            at += n
        position_ids[b, at:] = torch.arange(width - at)
    return {"input_ids": input_ids, "position_ids": position_ids, "labels": labels}


def padded_batch(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """One example per row, right-padded to the longest, with an attention mask."""
    ids = [e[0] for e in examples]
    return {"input_ids": pad_rows(ids, pad_id), "attention_mask": pad_rows([[1] * len(s) for s in ids], 0),
            "labels": pad_rows([e[1] for e in examples], IGNORE)}


def seq2seq_batch(pairs: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """(prompt, answer) pairs for an encoder-decoder: padded prompts with a mask, answers as labels."""
    prompts = [p for p, _ in pairs]
    return {"input_ids": pad_rows(prompts, pad_id),
            "attention_mask": pad_rows([[1] * len(p) for p in prompts], 0),
            "labels": pad_rows([a for _, a in pairs], IGNORE)}
