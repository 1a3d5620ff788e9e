"""LoRA (Hu et al. 2021): freeze W and learn a low-rank update W + (alpha/r)·B·A, with B = 0 at the start."""

from __future__ import annotations

from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod, everywhere, split_names, stores_transposed
from lmlearn.adapters.targets import LORA_TARGETS, default_targets


class LoRA(PeftMethod):
    """Low-rank updates of the attention projections (or the modules --lora-targets names)."""

    name = "lora"
    support = everywhere()

    def targets(self, family: str) -> list[str] | str:
        """The modules to adapt: --lora-targets, else the family's attention projections."""
        if self.settings.lora_targets:
            return split_names(self.settings.lora_targets)
        return default_targets(LORA_TARGETS, family, "--lora-targets")

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """A LoraConfig with --lora-r, --lora-alpha and --lora-dropout."""
        from peft import LoraConfig

        s = self.settings
        return LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                          target_modules=self.targets(family), fan_in_fan_out=stores_transposed(model),
                          task_type=PEFT_TASK_TYPES[task_type])
