"""Prefix tuning (Li & Liang 2021; every layer as in P-tuning v2): learned keys and values before the sequence."""

from __future__ import annotations

from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod

_DECODERS = ("gpt2", "llama", "gpt-neox")
_ENCODERS = ("bert", "roberta", "electra")


class PrefixTuning(PeftMethod):
    """--num-virtual-tokens key/value pairs per layer, passed to the model as its attention cache."""

    name = "prefix"
    # peft hands the prefix over as past_key_values, which ALBERT, DeBERTa-v2, DistilBERT and XLNet
    # do not take, and which the BART and T5 classification heads do not pass on.
    support = {
        "causal-lm": _DECODERS,
        "seq2seq-lm": ("bart", "t5"),
        "sequence-classification": _DECODERS + _ENCODERS,
        "token-classification": _DECODERS + _ENCODERS,
        "question-answering": _DECODERS + _ENCODERS,
    }
    why_not = "peft passes the prefix as past_key_values, which this model or head does not take"

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """A PrefixTuningConfig with --num-virtual-tokens."""
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(num_virtual_tokens=self.settings.num_virtual_tokens,
                                  task_type=PEFT_TASK_TYPES[task_type])
