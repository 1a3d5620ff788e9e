"""Residual dropout rising through the layers (LIMA, Zhou et al. 2023, §3): dropout on each sub-layer's
output before it joins the residual stream, at 0 in the bottom layer rising linearly to a top rate.

GPT-2 and GPT-NeoX already have these dropout modules (one rate for every layer from their config), so
their rates are set per layer; Llama has none, so forward hooks apply dropout to its attention and MLP
outputs. Both are active only in training mode and are not saved with the model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lmlearn.errors import LmlearnError

# where each family keeps its decoder layers, and the dropout modules on its two residual branches
_LAYERS = {"llama": "model.layers", "gpt2": "transformer.h", "gpt-neox": "gpt_neox.layers"}
_DROPOUTS = {"gpt2": ("attn.resid_dropout", "mlp.dropout"),
             "gpt-neox": ("post_attention_dropout", "post_mlp_dropout")}
_HOOKED = {"llama": ("self_attn", "mlp")}
RESIDUAL_DROPOUT_FAMILIES = tuple(_LAYERS)


def residual_dropout_rates(layers: int, top: float) -> list[float]:
    """Per-layer rates: 0 at the bottom layer, rising linearly to `top` at the last one."""
    return [top * i / (layers - 1) for i in range(layers)] if layers > 1 else [top]


def _dropout_hook(p: float):
    def hook(module: torch.nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):  # attention returns (output, weights)
            return (F.dropout(output[0], p, module.training),) + output[1:]
        return F.dropout(output, p, module.training)

    return hook


def decoder_layers(model: torch.nn.Module, family: str) -> torch.nn.ModuleList:
    """The decoder layers of a `family` model (also under a peft wrapper)."""
    if family not in _LAYERS:
        raise LmlearnError(f"--residual-dropout is implemented for {', '.join(_LAYERS)} models, not {family}")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_submodule(_LAYERS[family])


def apply_residual_dropout(model: torch.nn.Module, family: str, top: float) -> list[float]:
    """Give each decoder layer of `model` its residual dropout rate; returns the rates, bottom first."""
    if not 0 <= top < 1:
        raise LmlearnError(f"--residual-dropout {top}: a rate must be at least 0 and below 1")
    layers = decoder_layers(model, family)
    rates = residual_dropout_rates(len(layers), top)
    for layer, p in zip(layers, rates):
        for name in _DROPOUTS.get(family, ()):
            layer.get_submodule(name).p = p
        for name in _HOOKED.get(family, ()):
            layer.get_submodule(name).register_forward_hook(_dropout_hook(p))
    return rates
