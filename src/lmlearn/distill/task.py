"""Task distillation (Hinton et al. 2015; DistilBERT's and TinyBERT's task stage use the same soft
targets): a fine-tuned classifier or tagger teaches a smaller model of the same task,
loss = T^2 KL(teacher_T || student_T) over the examples (the labelled tokens, for tagging)
+ alpha_hard * the task's own cross-entropy."""

from __future__ import annotations

from typing import Any

import torch

from lmlearn.distill.base import Distiller
from lmlearn.distill.losses import soft_kl
from lmlearn.engine.method import Models, StepOutput, count_targets

TASKS = ("classify", "pair", "tag")  # heads with one logits tensor (QA's two are not distilled yet)


class TaskDistillation(Distiller):
    """The task's batches and predictions; the teacher's soft targets in the loss."""

    def __init__(self, cfg: Any, task: Any):
        self.cfg, self.task, self.tokenizer = cfg, task, task.tokenizer
        self.head, self.families = task.head, task.families

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.task.collate(examples, generator)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The soft loss per example (per labelled token when tagging), plus the hard one; both as metrics."""
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        with torch.no_grad():
            teacher = models["teacher"](**inputs).logits
        out = models.model(**batch)
        labels = batch["labels"]
        keep = labels != -100 if labels.dim() > 1 else torch.ones_like(labels, dtype=torch.bool)
        kl = soft_kl(out.logits[keep], teacher[keep], self.cfg.temperature)
        loss = kl + self.cfg.alpha_hard * out.loss
        return StepOutput(loss, count_targets(batch), {"kl": kl.detach(), "ce": out.loss.detach()})

    def save(self, student: torch.nn.Module, path: Any) -> None:
        self.task.save(student, path)
