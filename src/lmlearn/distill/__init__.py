"""Knowledge distillation: a student trained against a frozen teacher (one file per method)."""

from __future__ import annotations

from typing import Any

from lmlearn.registry import lookup

METHODS = {
    "distilbert": "lmlearn.distill.distilbert:DistilBERT",
    "tinybert": "lmlearn.distill.tinybert:TinyBERT",
    "kd": "lmlearn.distill.kd:KnowledgeDistillation",
}

# the same methods on a fine-tuned task head (`--task`): their terms on the task's batches
TASK_METHODS = {
    "distilbert": "lmlearn.distill.distilbert:TaskDistilBERT",
    "tinybert": "lmlearn.distill.tinybert:TaskTinyBERT",
    "kd": "lmlearn.distill.task:TaskDistillation",
}


def method_names() -> list[str]:
    """The registered distillation methods."""
    return sorted(METHODS)


def get_method(name: str) -> Any:
    """The distillation method class registered as `name`."""
    return lookup(METHODS, name, "distillation method", method_names())


def get_task_method(name: str) -> Any:
    """The task-distillation class of method `name`."""
    return lookup(TASK_METHODS, name, "distillation method", sorted(TASK_METHODS))


def option_classes() -> list[type]:
    """Every method's Options dataclass (their fields become `lmlearn distill` flags)."""
    return [cls.Options for cls in map(get_method, METHODS) if cls.Options is not None]
