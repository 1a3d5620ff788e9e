"""Prompt assembly: description, few-shot examples and the test document, as lm-eval builds them.

lm-eval draws the shots of every document from ONE `random.Random(fewshot_seed)` in document
order (`rnd.sample(pool, k)`; `k + 1` then the document itself removed when the shots come from
the test split). Doing the same, in the same order, gives the same prompts.
"""

from __future__ import annotations

import random

from lmlearn.errors import LmlearnError
from lmlearn.evaluation.task import Task


def fewshot_contexts(task: Task, docs: list[dict], shots: int) -> list[str]:
    """The prompt (context) of each document with `shots` demonstrations."""
    rnd = random.Random(task.fewshot_seed)
    pool = list(task.fewshot_docs)
    if shots > len(pool) - (1 if task.fewshot_is_test else 0):
        raise LmlearnError(f"--shots {shots}: task {task.name} has only {len(pool)} few-shot documents")
    contexts = []
    for doc in docs:
        # lm-eval 0.4.13 renders the description as a system message with no delimiter after it.
        parts = [task.description] if task.description else []
        if shots:
            if task.fewshot_is_test:
                drawn = [d for d in rnd.sample(pool, shots + 1) if d != doc][:shots]
                if len(drawn) < shots:  # duplicates of the document were drawn: resample without them
                    drawn = rnd.sample([d for d in pool if d != doc], shots)
            else:
                drawn = rnd.sample(pool, shots)
            for shot in drawn:
                parts.append(task.text(shot) + task.target_delimiter + task.target_text(shot) + task.fewshot_delimiter)
        parts.append(task.text(doc))
        contexts.append("".join(parts))
    return contexts
