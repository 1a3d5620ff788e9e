"""Knowledge distillation: a student trained against a frozen teacher (one file per method)."""

from __future__ import annotations

from typing import Any

from lmlearn.registry import lookup

METHODS = {
    "distilbert": "lmlearn.distill.distilbert:DistilBERT",
    "tinybert": "lmlearn.distill.tinybert:TinyBERT",
    "kd": "lmlearn.distill.kd:KnowledgeDistillation",
}


def method_names() -> list[str]:
    """The registered distillation methods."""
    return sorted(METHODS)


def get_method(name: str) -> Any:
    """The distillation method class registered as `name`."""
    return lookup(METHODS, name, "distillation method", method_names())


def option_classes() -> list[type]:
    """Every method's Options dataclass (their fields become `lmlearn distill` flags)."""
    return [cls.Options for cls in map(get_method, METHODS) if cls.Options is not None]
