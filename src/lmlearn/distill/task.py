"""Task distillation (Hinton et al. 2015): a fine-tuned classifier, tagger or extractive QA model teaches a smaller
model of the same task, loss = T^2 KL(teacher_T || student_T) over the examples (the labelled tokens, for tagging;
the answer's start and its end, each a distribution over the real tokens, for QA) + alpha_hard * the task's own
loss. DistilBERT's and TinyBERT's task stages (their files) add
their own terms to the same batches."""

from __future__ import annotations

from typing import Any

import torch

from lmlearn.distill.base import TARGETS, Distiller, split_inputs
from lmlearn.distill.losses import soft_kl
from lmlearn.engine.method import Models, StepOutput, count_targets

TASKS = ("classify", "pair", "tag", "qa")
PADDING_LOGIT = -1e4  # a QA head scores padding too; this takes it out of both distributions (exp(-1e4 / T) = 0)


def mean_loss(loss: Any, pairs: list[tuple[torch.Tensor, torch.Tensor]], temperature: float) -> torch.Tensor:
    """`loss` averaged over the (student, teacher) pairs: QA's start and end count as one target each."""
    return sum(loss(s, t, temperature) for s, t in pairs) / len(pairs)


class TaskDistillation(Distiller):
    """The task's batches and predictions; the teacher's soft targets in the loss (`--method kd`)."""

    hidden_states = False  # whether the step reads both models' hidden states

    def __init__(self, cfg: Any, task: Any):
        self.cfg, self.task, self.tokenizer = cfg, task, task.tokenizer
        self.head, self.families = task.head, task.families

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.task.collate(examples, generator)

    def forward(self, models: Models, batch: dict[str, torch.Tensor]) -> tuple[Any, Any]:
        """Teacher (no gradient) and student outputs on one batch; the student's with its own task loss."""
        inputs = split_inputs(batch)
        with torch.no_grad():
            teacher = models["teacher"](**inputs, output_hidden_states=self.hidden_states)
        targets = {k: batch[k] for k in TARGETS if k in batch}
        student = models.model(**inputs, **targets, output_hidden_states=self.hidden_states)
        return teacher, student

    def soft_pairs(self, student: Any, teacher: Any, batch: dict[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every row (labelled token, when tagging) of the head's logits; QA's start and end logits over the real
        tokens of each row."""
        if "labels" in batch:
            return super().soft_pairs(student, teacher, batch)
        pad = batch["attention_mask"] == 0
        return [(s.masked_fill(pad, PADDING_LOGIT), t.masked_fill(pad, PADDING_LOGIT))
                for s, t in ((student.start_logits, teacher.start_logits), (student.end_logits, teacher.end_logits))]

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The soft loss per example (per labelled token when tagging), plus the hard one; both as metrics."""
        teacher, student = self.forward(models, batch)
        kl = mean_loss(soft_kl, self.soft_pairs(student, teacher, batch), self.cfg.temperature)
        loss = self.cfg.alpha_soft * kl + self.cfg.alpha_hard * student.loss
        return StepOutput(loss, count_targets(batch), {"kl": kl.detach(), "ce": student.loss.detach()})

    def save(self, student: torch.nn.Module, path: Any) -> None:
        self.task.save(student, path)
