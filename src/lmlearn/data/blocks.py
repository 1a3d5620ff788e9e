"""Tokenize text and pack it into fixed-length blocks (GPT-style), through `datasets.map` and its cache."""

from __future__ import annotations

from typing import Sequence

import datasets
import torch

from lmlearn.errors import LmlearnError


def pad_rows(rows: Sequence[Sequence[int]], value: int, width: int | None = None) -> torch.Tensor:
    """Rows of ids right-padded with `value` into one (N, width) LongTensor (width: the longest row)."""
    width = max(len(r) for r in rows) if width is None else width
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def _tokenize(batch: dict, tokenizer, text_column: str, eos_id: int | None) -> dict:
    ids = tokenizer(batch[text_column], add_special_tokens=False)["input_ids"]
    if eos_id is not None:
        # An end-of-text token between documents tells the model where one ends (GPT-2's choice).
        ids = [seq + [eos_id] for seq in ids]
    return {"input_ids": ids}


def _pack(batch: dict, block_size: int) -> dict:
    flat = [t for seq in batch["input_ids"] for t in seq]
    usable = len(flat) - len(flat) % block_size
    return {"input_ids": [flat[i:i + block_size] for i in range(0, usable, block_size)]}


def pack_blocks(ds: datasets.Dataset, tokenizer, *, text_column: str = "text", block_size: int = 256,
                add_eos: bool = True, num_proc: int | None = None) -> datasets.Dataset:
    """Return a dataset with one column, `input_ids`, of blocks of exactly `block_size` tokens.

    Token streams are concatenated across documents within each map batch of 1,000 rows; only the
    tail of each such batch that does not fill a block is dropped.
    """
    eos_id = tokenizer.eos_token_id if add_eos else None
    if add_eos and eos_id is None:
        eos_id = tokenizer.sep_token_id
    tokenized = ds.map(_tokenize, batched=True, remove_columns=ds.column_names, num_proc=num_proc,
                       fn_kwargs={"tokenizer": tokenizer, "text_column": text_column, "eos_id": eos_id},
                       desc="tokenizing")
    return tokenized.map(_pack, batched=True, num_proc=num_proc, fn_kwargs={"block_size": block_size},
                         desc=f"packing into blocks of {block_size}")


def blocks_tensor(blocks: datasets.Dataset, what: str = "data") -> torch.Tensor:
    """All blocks as one (N, block_size) LongTensor, so a batch is one indexing operation."""
    if len(blocks) == 0:
        raise LmlearnError(f"the {what} is too small to fill one block; use more text or a smaller --block-size")
    column = blocks.data.column("input_ids").combine_chunks()  # arrow list<int> -> one flat buffer
    flat = column.flatten().to_numpy()
    return torch.from_numpy(flat.astype("int64", copy=False)).view(len(blocks), -1)


def framed_blocks(ds: datasets.Dataset, tokenizer, *, text_column: str, block_size: int, head: list[int],
                  tail: list[int], what: str = "data") -> torch.Tensor:
    """Blocks of exactly `block_size` tokens: the `head` ids, packed text, the `tail` ids
    (BERT-style [CLS] … [SEP], XLNet's … <sep> <cls>)."""
    inner = blocks_tensor(pack_blocks(ds, tokenizer, text_column=text_column,
                                      block_size=block_size - len(head) - len(tail)), what)
    n = len(inner)
    return torch.cat([torch.tensor(head, dtype=torch.long).expand(n, len(head)), inner,
                      torch.tensor(tail, dtype=torch.long).expand(n, len(tail))], dim=1)
