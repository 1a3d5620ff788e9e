"""Prefix tuning (Li & Liang 2021; every layer as in P-tuning v2): learned keys and values before the sequence."""

from __future__ import annotations

import inspect
from typing import Any

from lmlearn.adapters.base import PEFT_TASK_TYPES, TASK_HEADS, PeftMethod
from lmlearn.families import DECODERS as _DECODERS, ENCODER_DECODERS

_ENCODERS = ("bert", "roberta", "electra")
_PEFT_CHECKED = "0.21.2"  # the newest peft release whose task-head prefix path was read (make upgrade-check)


class PrefixTuning(PeftMethod):
    """--num-virtual-tokens key/value pairs per layer, passed to the model as its attention cache."""

    name = "prefix"
    # peft hands the prefix over as past_key_values, which ALBERT, DeBERTa-v2, DistilBERT and XLNet
    # do not take, and which the BART and T5 classification heads do not pass on.
    support = {
        "causal-lm": _DECODERS,
        "seq2seq-lm": ENCODER_DECODERS,
        "sequence-classification": _DECODERS + _ENCODERS,
        "token-classification": _DECODERS + _ENCODERS,
        "question-answering": _DECODERS + _ENCODERS,
    }
    why_not = "peft passes the prefix as past_key_values, which this model or head does not take"

    @classmethod
    def version_problem(cls, family: str, task_type: str) -> str | None:
        """peft (0.21 and before) gives a task head the prefix only if the head's or its backbone's
        forward names `past_key_values`; transformers 5.24 renamed that argument `cache`, and peft then
        fails inside its forward. Causal and seq2seq LMs pass the prefix by keyword and still work."""
        if task_type not in TASK_HEADS:
            return None
        import peft
        import transformers

        from packaging.version import Version

        if Version(peft.__version__) > Version(_PEFT_CHECKED):  # a later peft may know `cache`: let it try
            return None
        head, backbone = _head_classes(family, task_type)
        if head is None or any("past_key_values" in inspect.signature(c.forward).parameters
                               for c in (head, backbone)):
            return None
        return (f"peft {peft.__version__} looks for a `past_key_values` argument that transformers "
                f"{transformers.__version__}'s {head.__name__} no longer has (it is `cache` since 5.24); "
                "use transformers<5.24 or another --peft method")

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """A PrefixTuningConfig with --num-virtual-tokens."""
        from peft import PrefixTuningConfig

        return PrefixTuningConfig(num_virtual_tokens=self.settings.num_virtual_tokens,
                                  task_type=PEFT_TASK_TYPES[task_type])


def _head_classes(family: str, task_type: str) -> tuple[Any, Any]:
    """transformers' classes for a `family` model with the `task_type` head and for its backbone."""
    import transformers

    auto = {"sequence-classification": transformers.AutoModelForSequenceClassification,
            "token-classification": transformers.AutoModelForTokenClassification,
            "question-answering": transformers.AutoModelForQuestionAnswering}[task_type]
    model_type = family if family in transformers.CONFIG_MAPPING else family.replace("-", "_")
    if model_type not in transformers.CONFIG_MAPPING:
        return None, None
    config_class = transformers.CONFIG_MAPPING[model_type]
    try:
        return auto._model_mapping[config_class], transformers.MODEL_MAPPING[config_class]
    except KeyError:
        return None, None
