"""(IA)3 (Liu et al. 2022): learn vectors that rescale keys, values and feed-forward activations."""

from __future__ import annotations

from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod, everywhere, split_names, stores_transposed
from lmlearn.adapters.targets import IA3_TARGETS, default_targets


class IA3(PeftMethod):
    """Element-wise scaling vectors, initialised to one, so training starts from the base model."""

    name = "ia3"
    support = everywhere()

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """An IA3Config on --ia3-targets, else the family's keys, values and feed-forward outputs."""
        from peft import IA3Config

        targets, feedforward = default_targets(IA3_TARGETS, family, "--ia3-targets")
        if self.settings.ia3_targets:
            targets = split_names(self.settings.ia3_targets)
            # a named feed-forward layer keeps its input-side scaling; the rest scale their outputs
            feedforward = [name for name in feedforward if name in targets]
        return IA3Config(target_modules=targets, feedforward_modules=feedforward,
                         fan_in_fan_out=stores_transposed(model), task_type=PEFT_TASK_TYPES[task_type])
