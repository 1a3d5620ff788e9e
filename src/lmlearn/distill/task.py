"""Task distillation (Hinton et al. 2015): a fine-tuned classifier or tagger teaches a smaller model of the
same task, loss = T^2 KL(teacher_T || student_T) over the examples (the labelled tokens, for tagging)
+ alpha_hard * the task's own cross-entropy. DistilBERT's and TinyBERT's task stages (their files) add
their own terms to the same batches."""

from __future__ import annotations

from typing import Any

import torch

from lmlearn.distill.base import Distiller, split_inputs, target_positions
from lmlearn.distill.losses import soft_kl
from lmlearn.engine.method import Models, StepOutput, count_targets

TASKS = ("classify", "pair", "tag")  # heads with one logits tensor (QA's two are not distilled yet)


class TaskDistillation(Distiller):
    """The task's batches and predictions; the teacher's soft targets in the loss (`--method kd`)."""

    hidden_states = False  # whether the step reads both models' hidden states

    def __init__(self, cfg: Any, task: Any):
        self.cfg, self.task, self.tokenizer = cfg, task, task.tokenizer
        self.head, self.families = task.head, task.families

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.task.collate(examples, generator)

    def forward(self, models: Models, batch: dict[str, torch.Tensor]) -> tuple[Any, Any, torch.Tensor]:
        """Teacher (no gradient) and student outputs on one batch, and the positions that carry a target:
        every row when classifying, the labelled tokens when tagging."""
        inputs = split_inputs(batch)
        with torch.no_grad():
            teacher = models["teacher"](**inputs, output_hidden_states=self.hidden_states)
        student = models.model(**inputs, labels=batch["labels"], output_hidden_states=self.hidden_states)
        return teacher, student, target_positions(batch["labels"])

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The soft loss per example (per labelled token when tagging), plus the hard one; both as metrics."""
        teacher, student, keep = self.forward(models, batch)
        kl = soft_kl(student.logits[keep], teacher.logits[keep], self.cfg.temperature)
        loss = kl + self.cfg.alpha_hard * student.loss
        return StepOutput(loss, count_targets(batch), {"kl": kl.detach(), "ce": student.loss.detach()})

    def save(self, student: torch.nn.Module, path: Any) -> None:
        self.task.save(student, path)
