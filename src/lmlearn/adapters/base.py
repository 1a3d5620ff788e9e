"""What every `--peft` method shares: where it applies, and how it becomes a `peft` config."""

from __future__ import annotations

from typing import Any, ClassVar

from lmlearn.models.presets import FAMILIES

# lmlearn's head names: the pre-training heads of the objectives, then the fine-tuning heads.
TASK_TYPES = ("causal-lm", "masked-lm", "seq2seq-lm", "pretraining",
              "sequence-classification", "token-classification", "question-answering")

# peft's TaskType for each head. Masked-LM and the pre-training heads have none: peft then wraps
# them in a plain PeftModel, whose forward is the base model's (right for lora/ia3, which work
# inside the layers, but it would silently skip the virtual tokens of prompt learning).
PEFT_TASK_TYPES = {
    "causal-lm": "CAUSAL_LM", "seq2seq-lm": "SEQ_2_SEQ_LM", "masked-lm": None, "pretraining": None,
    "sequence-classification": "SEQ_CLS", "token-classification": "TOKEN_CLS", "question-answering": "QUESTION_ANS",
}

# The fine-tuning heads add freshly initialised modules that must train along with the adapter.
TASK_HEADS = ("sequence-classification", "token-classification", "question-answering")


def task_head_modules(model: Any, task_type: str) -> list[str]:
    """The modules a fine-tuning head adds on top of the backbone (classifier, score, DeBERTa's pooler,
    XLNet's sequence summary, ...), which train and save with the adapter; none for the other heads."""
    if task_type not in TASK_HEADS:
        return []
    import torch

    embeddings = model.get_input_embeddings()

    def is_backbone(child: Any) -> bool:  # holds a stack of layers or the input embeddings (T5's `shared`)
        return any(m is embeddings or isinstance(m, torch.nn.ModuleList) for m in child.modules())

    heads = [name for name, child in model.named_children()
             if any(True for _ in child.parameters()) and not is_backbone(child)]
    # BERT's pooler sits inside the backbone but serves the classifier; after MLM-only pre-training
    # it is freshly initialised, so it must train and be saved with the adapter like the head.
    pooler = getattr(getattr(model, "base_model", None), "pooler", None)
    if task_type == "sequence-classification" and pooler is not None and any(True for _ in pooler.parameters()):
        heads.append("pooler")
    return heads


def auto_class(task_type: str) -> Any:
    """The transformers Auto class that loads a model with this head."""
    import transformers

    from lmlearn.models.factory import HEAD_CLASSES

    fine_tuning = {"sequence-classification": transformers.AutoModelForSequenceClassification,
                   "token-classification": transformers.AutoModelForTokenClassification,
                   "question-answering": transformers.AutoModelForQuestionAnswering}
    return {**HEAD_CLASSES, **fine_tuning}[task_type]


def everywhere() -> dict[str, tuple[str, ...]]:
    """Support for a method that works inside the layers: every task type, every family."""
    return {task_type: FAMILIES for task_type in TASK_TYPES}


def stores_transposed(model: Any) -> bool:
    """Whether the model's linear layers are GPT-2 `Conv1D`s, which keep weights as (in, out)
    (peft's fan_in_fan_out); a 4-bit copy has plain Linear layers instead."""
    return any(type(m).__name__ == "Conv1D" for m in model.modules())


def split_names(text: str) -> list[str] | str:
    """A comma-separated --*-targets value as peft takes it (`all-linear` stays a string)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    return "all-linear" if names == ["all-linear"] else names


class PeftMethod:
    """Base class of the methods: a subclass sets the class attributes and writes `config`."""

    name: ClassVar[str]
    # task type -> the preset families peft can apply the method to; families outside the presets
    # are left to peft to accept or refuse
    support: ClassVar[dict[str, tuple[str, ...]]]
    why_not: ClassVar[str] = ""  # what peft lacks elsewhere, for the error message
    quantized: ClassVar[bool] = False  # trains on a 4-bit base (`load_quantized`)

    def __init__(self, settings: Any):
        self.settings = settings

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """The `peft` config for `model` (of `family`, with the `task_type` head)."""
        raise NotImplementedError

    @classmethod
    def version_problem(cls, family: str, task_type: str) -> str | None:
        """Why the installed peft and transformers releases cannot apply the method to a `family`
        model with the `task_type` head, where they could before (None when they can)."""
        return None

    def init_weights(self, model: Any, tokenizer: Any) -> None:
        """Set initial adapter weights a peft config cannot express (default: peft's own init)."""
