"""Model FLOPs per token and device peaks, for the MFU next to tokens/s (PaLM's definition, appendix B:
6N for the weights' forward and backward plus 12·L·d·T for attention, N the non-embedding parameters)."""

from __future__ import annotations

from typing import Any

import torch

# Dense bf16 tensor-core peaks (no sparsity) from the vendors' data sheets, FLOP/s.
GPU_PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12}


def _config_value(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def flops_per_token(model: torch.nn.Module, batch: dict[str, Any]) -> float | None:
    """Training FLOPs per token of `model` on rows as long as `batch`'s (every transformers model in it
    counted; None when there is none)."""
    total = 0.0
    inner = [m for m in model.modules() if hasattr(m, "config") and hasattr(m, "get_input_embeddings")]
    outer = [m for m in inner if not any(m is not o and any(m is c for c in o.modules()) for o in inner)]
    # the longest rows the model reads (a preference batch has chosen_input_ids and rejected_input_ids)
    lengths = [v.shape[-1] for k, v in batch.items() if k.endswith("input_ids") and isinstance(v, torch.Tensor)
               and v.dim() > 1]
    length = max(lengths, default=0)
    for m in outer:
        embedding = m.get_input_embeddings()
        embedded = sum(p.numel() for p in embedding.parameters()) if embedding is not None else 0
        params = sum(p.numel() for p in m.parameters())
        layers = _config_value(m.config, "num_hidden_layers", "n_layer", "num_layers")
        width = _config_value(m.config, "hidden_size", "n_embd", "d_model")
        attention = 12 * layers * width * length if layers and width else 0
        total += 6 * (params - embedded) + attention
    return total or None


def peak_flops(device: torch.device, setting: float = 0.0) -> float | None:
    """One device's peak FLOP/s: the setting, else a known GPU's bf16 peak, else None (no MFU)."""
    if setting > 0:
        return setting
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((peak for key, peak in GPU_PEAKS.items() if key in name), None)
    return None


def gpu_peak_mb() -> float | None:
    """The most GPU memory this process's tensors held (torch.cuda.max_memory_allocated, MiB), or None on CPU."""
    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated()
    return round(peak / 2**20, 1) if peak else None
