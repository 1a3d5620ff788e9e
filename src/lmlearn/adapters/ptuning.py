"""P-tuning (Liu et al. 2021): virtual-token embeddings produced by a small trained prompt encoder."""

from __future__ import annotations

from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod
from lmlearn.adapters.prompt import PROMPT_SUPPORT, PROMPT_WHY_NOT, prompt_dims


class PTuning(PeftMethod):
    """Virtual tokens from an MLP (peft's default) or LSTM encoder, prepended like prompt tuning."""

    name = "ptuning"
    support = PROMPT_SUPPORT
    why_not = PROMPT_WHY_NOT

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """A PromptEncoderConfig with --num-virtual-tokens, --ptuning-hidden-size and --ptuning-encoder."""
        from peft import PromptEncoderConfig

        dims = prompt_dims(model)
        return PromptEncoderConfig(num_virtual_tokens=self.settings.num_virtual_tokens,
                                   encoder_hidden_size=self.settings.ptuning_hidden_size or dims["token_dim"],
                                   encoder_reparameterization_type=self.settings.ptuning_encoder.upper(),
                                   task_type=PEFT_TASK_TYPES[task_type], **dims)
