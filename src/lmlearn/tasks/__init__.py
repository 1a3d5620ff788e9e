"""Registry of downstream tasks: the name used by `lmlearn finetune --task NAME`.

A task is one file holding a subclass of `lmlearn.tasks.base.Task`; its `Options` dataclass (if
any) adds its own flags to `lmlearn finetune`. Adding one means writing that file and one line here.
"""

from __future__ import annotations

from lmlearn.registry import lookup

TASKS = {
    "classify": "lmlearn.tasks.classify:Classify",
    "pair": "lmlearn.tasks.pair:Pair",
    "regress": "lmlearn.tasks.regress:Regress",
    "multilabel": "lmlearn.tasks.multilabel:MultiLabel",
    "relation": "lmlearn.tasks.relation:Relation",
    "tag": "lmlearn.tasks.tag:Tag",
    "qa": "lmlearn.tasks.qa:ExtractiveQA",
    "seq2seq": "lmlearn.tasks.seq2seq:Seq2Seq",
}


def task_names() -> list[str]:
    """The registered task names."""
    return list(TASKS)


def get_task(name: str) -> type:
    """The task class registered under `name`."""
    return lookup(TASKS, name, "task", task_names())


def option_classes() -> list[type]:
    """Every task's Options dataclass, in registry order (their fields become finetune flags)."""
    classes = [get_task(name).Options for name in TASKS]
    return list(dict.fromkeys(c for c in classes if c is not None))
