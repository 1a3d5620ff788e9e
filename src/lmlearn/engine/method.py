"""What a learning method declares to the engine: its models, its batches and its step.

A method (a pre-training objective, a task, SFT, and next distillation and alignment) is one class:

- **models**: the engine trains one module (`Models.model`; two networks that learn together, such
  as ELECTRA's generator and discriminator or a policy and its critic, are one module holding both)
  and carries any number of frozen ones by name (`Models["teacher"]`, `Models["reference"]`), which
  it places on the device in eval mode with gradients off, and never saves or prepares for DDP.
- **batches**: static ones, `collate(examples, generator)` on examples the engine picks, or online
  ones, `produce(models, g, generator)` (set `online = True`; it returns the whole global
  micro-batch, like `collate`), e.g. rollouts of the current policy.
  Every random draw uses `generator`, seeded from (seed, micro-batch index): never from the rank.
- **step**: `step(models, batch) -> StepOutput`: the loss, the number of units it is a mean over
  (tokens, usually), and named metrics. A method that only writes `loss(model, batch)` gets a step
  whose count is its labels' (see `count_targets`).

Optional: `shard(batch, rank, world)` when a batch holds tensors that are not one row per example
(the default keeps rows `rows_of(rank, world, rows)`, contiguous, on each process), and
`state_dict()` / `load_state_dict()` for state a checkpoint must keep (an adaptive KL coefficient,
a rollout buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lmlearn.errors import LmlearnError

IGNORE = -100  # the label transformers' losses skip


@dataclass
class StepOutput:
    """One micro-batch's result: `loss` is a mean over `tokens` units; `metrics` are means over the same
    units (the engine weights both by `tokens` across micro-batches, processes and logging steps)."""

    loss: torch.Tensor
    tokens: torch.Tensor | int | float
    metrics: dict[str, torch.Tensor | float] = field(default_factory=dict)


class Models:
    """The trainable model and the frozen ones, by slot name."""

    def __init__(self, model: torch.nn.Module, frozen: dict[str, torch.nn.Module] | None = None):
        self.model, self.frozen = model, dict(frozen or {})

    def __getitem__(self, name: str) -> torch.nn.Module:
        if name == "model":
            return self.model
        if name not in self.frozen:
            raise KeyError(f"no model in slot '{name}' (slots: model, {', '.join(self.frozen) or 'no frozen ones'})")
        return self.frozen[name]


def count_targets(batch: dict[str, torch.Tensor], shifted: bool = False) -> torch.Tensor:
    """The units a transformers head's loss averages over: labelled positions (after the causal
    shift when `shifted`), else one per row."""
    labels = batch.get("labels")
    if labels is None:
        ids = batch.get("input_ids")
        return torch.tensor(ids.shape[0] if ids is not None else 1)
    if labels.dim() == 1:  # one label per row (classification)
        return torch.tensor(labels.shape[0])
    if shifted:
        labels = labels[..., 1:]
    return (labels != IGNORE).sum()


def run_step(method: Any, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
    """The method's step, or one built from its `loss(model, batch)`."""
    step = getattr(method, "step", None)
    if step is not None:
        return step(models, batch)
    loss = method.loss(models.model, batch)
    return StepOutput(loss, count_targets(batch, shifted=getattr(method, "head", "") == "causal-lm"))


def rows_of(rank: int, world: int, rows: int) -> tuple[int, int]:
    """The first and one-past-last row of a `rows`-row batch that process `rank` of `world` keeps."""
    return rank * rows // world, (rank + 1) * rows // world


def shard(method: Any, batch: dict[str, torch.Tensor], rows: int, rank: int, world: int) -> dict[str, torch.Tensor]:
    """This process's part of a global micro-batch of `rows` rows: every process collates the whole
    micro-batch with the same generator and keeps its own rows, so masks and other draws are those of
    a one-process run with the global batch, and differ between processes."""
    if world == 1:
        return batch
    own = getattr(method, "shard", None)
    if own is not None:
        return own(batch, rank, world)
    lo, hi = rows_of(rank, world, rows)
    part = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            part[key] = value
        elif value.shape[0] == rows:
            part[key] = value[lo:hi]
        else:
            raise LmlearnError(f"{type(method).__name__}: batch field '{key}' has {value.shape[0]} rows, not one per "
                               f"example ({rows}); the method must define shard(batch, rank, world)")
    return part
