"""DistilBERT (Sanh et al. 2019): a student with half the teacher's layers, initialised from every
other teacher layer, trained on a_ce * T^2 KL(teacher_T || student_T) over the masked positions
+ a_mlm * MLM + a_cos * (1 - cos) between the last hidden states, with dynamic masking as `mlm`.
On a task (`--task`), the same three terms on a fine-tuned teacher's batches: the soft targets of its
head, the task's own cross-entropy in MLM's place (weighted by `--alpha-hard`), and the cosine loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lmlearn.config import option
from lmlearn.distill.base import Distiller, split_inputs
from lmlearn.distill.losses import cosine_loss, soft_kl
from lmlearn.distill.task import TaskDistillation, mean_loss
from lmlearn.engine.method import Models, StepOutput, count_targets
from lmlearn.objectives.mlm import MaskedLM


@dataclass
class DistilOptions:
    """Settings every distillation method shares, and DistilBERT's loss weights (its recipe's defaults)."""

    temperature: float = option(2.0, "distill: softmax temperature of teacher and student", range=">0")
    layers: str = option("", "distill: teacher layers the derived student starts from, e.g. 0,2,4 "
                             "(default: every other)")
    alpha_ce: float = option(5.0, "distilbert: weight of the soft-target loss", range=">=0")
    alpha_mlm: float = option(2.0, "distilbert: weight of the student's own MLM loss", range=">=0")
    alpha_cos: float = option(1.0, "distilbert: weight of the hidden-state cosine loss", range=">=0")


class DistilBERT(Distiller, MaskedLM):
    """Masked-LM distillation with the three losses of the DistilBERT recipe."""

    name = "distilbert"
    Options = DistilOptions

    def step(self, models: Models, batch: dict[str, Any]) -> StepOutput:
        """The weighted sum, per masked token; its three terms as metrics (ce, mlm, cos)."""
        cfg, inputs = self.cfg, split_inputs(batch)
        with torch.no_grad():
            teacher = models["teacher"](**inputs, output_hidden_states=True)
        student = models.model(**inputs, output_hidden_states=True)
        masked = batch["labels"] != -100
        ce = soft_kl(student.logits[masked], teacher.logits[masked], cfg.temperature)
        mlm = F.cross_entropy(student.logits[masked].float(), batch["labels"][masked])
        real = batch["attention_mask"].bool()
        cos = cosine_loss(student.hidden_states[-1][real], teacher.hidden_states[-1][real])
        loss = cfg.alpha_ce * ce + cfg.alpha_mlm * mlm + cfg.alpha_cos * cos
        return StepOutput(loss, masked.sum(), {"ce": ce.detach(), "mlm": mlm.detach(), "cos": cos.detach()})


class TaskDistilBERT(TaskDistillation):
    """DistilBERT's loss on a task head: a_ce * soft KL + alpha_hard * the task's cross-entropy + a_cos * cos
    between the last hidden states at every real token."""

    hidden_states = True

    def step(self, models: Models, batch: dict[str, Any]) -> StepOutput:
        cfg = self.cfg
        teacher, student = self.forward(models, batch)
        ce = mean_loss(soft_kl, self.soft_pairs(student, teacher, batch), cfg.temperature)
        real = batch["attention_mask"].bool()
        cos = cosine_loss(student.hidden_states[-1][real], teacher.hidden_states[-1][real])
        loss = cfg.alpha_ce * ce + cfg.alpha_hard * student.loss + cfg.alpha_cos * cos
        return StepOutput(loss, count_targets(batch), {"ce": ce.detach(), "hard": student.loss.detach(),
                                                       "cos": cos.detach()})
