"""Feature-based transfer: the pre-trained network stays frozen and only the task head learns."""

from __future__ import annotations

import torch

from lmlearn.errors import LmlearnError


def freeze_backbone(model: torch.nn.Module) -> int:
    """Freeze the pre-trained body of a transformers model; return the parameters left trainable.

    BERT's pooler sits inside the body but belongs to the classifier: after MLM-only pre-training
    it is untrained, and frozen at random it would squash the features the head sees.
    """
    body = getattr(model, "base_model", None)
    if body is None or body is model:
        raise LmlearnError("--freeze needs a model with a task head on a pre-trained body")
    for name, param in body.named_parameters():
        if "pooler" not in name.split("."):
            param.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
