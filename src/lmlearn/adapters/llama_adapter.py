"""LLaMA-Adapter (Zhang et al. 2023): adaption prompts in the top layers' attention, behind a zero-initialised gate."""

from __future__ import annotations

from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod
from lmlearn.errors import LmlearnError


class LlamaAdapter(PeftMethod):
    """--adapter-len prompt tokens attended to by the top --adapter-layers layers; the gate starts at
    zero, so training starts from the base model."""

    name = "llama-adapter"
    # peft's adaption prompt knows the attention of llama, mistral and gpt2 only, and trains no task head
    support = {"causal-lm": ("llama", "gpt2")}
    why_not = "peft's adaption prompt exists only for llama, mistral and gpt2 causal LMs"

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """An AdaptionPromptConfig with --adapter-len and --adapter-layers (default: every layer)."""
        from peft import AdaptionPromptConfig

        layers = model.config.num_hidden_layers
        wanted = self.settings.adapter_layers or layers
        if not 1 <= wanted <= layers:
            raise LmlearnError(f"--adapter-layers {wanted}: this model has {layers} layers; give 1 to {layers}")
        return AdaptionPromptConfig(adapter_len=self.settings.adapter_len, adapter_layers=wanted,
                                    task_type=PEFT_TASK_TYPES[task_type])
