"""AdamW with decoupled weight decay on matrices only, and warm-up then linear or cosine decay."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from lmlearn.engine.settings import TrainSettings


def make_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; biases, norms and other vectors get no weight decay (as in GPT-2 and nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel is the fastest AdamW on both CPU and CUDA in torch >= 2.4.
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(settings.adam_beta1, settings.adam_beta2),
                             eps=settings.adam_eps, fused=True)


def lr_factor(step: int, settings: TrainSettings) -> float:
    """Multiplier of the peak learning rate after `step` optimizer steps."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    if settings.schedule == "constant":
        return 1.0
    span = max(1, settings.max_steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / span)
    floor = settings.min_lr_ratio
    if settings.schedule == "linear":
        return floor + (1 - floor) * (1 - progress)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings) -> LambdaLR:
    """The warm-up/decay schedule as a LambdaLR stepped once per optimizer step."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, settings))
