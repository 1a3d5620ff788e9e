"""TinyBERT (Jiao et al. 2020): layer-to-layer distillation. Student layer m learns teacher layer
g(m) = m * N / M (uniform): MSE between their attention scores (before the softmax, padded keys
zeroed, as the reference code), MSE between the student's hidden states and embeddings mapped to the
teacher's width by one learned projection and the teacher's; then, in the prediction stage, soft
cross-entropy between their output distributions. The paper's two stages are `--tinybert-stage
intermediate` (general distillation on a corpus) then `prediction`; with `--task`, the same two stages
on a fine-tuned teacher's task batches (the paper's task-specific distillation)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from lmlearn.config import option
from lmlearn.distill.base import Distiller, split_inputs
from lmlearn.distill.losses import mse, soft_cross_entropy
from lmlearn.distill.student import layer_stack, num_layers
from lmlearn.distill.task import TaskDistillation, mean_loss
from lmlearn.engine.method import Models, StepOutput, count_targets
from lmlearn.errors import LmlearnError
from lmlearn.objectives.mlm import MaskedLM


@dataclass
class TinyBERTOptions:
    """Settings of `--method tinybert`."""

    tinybert_stage: Literal["intermediate", "prediction"] = option(
        "intermediate", "tinybert: attention, hidden-state and embedding losses, or the prediction layer's")


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """TinyBERT's uniform g(m) for m = 1..M (hidden state 0, the embeddings, maps to 0)."""
    if teacher_layers % student_layers:
        raise LmlearnError(f"tinybert maps {student_layers} student layers uniformly onto {teacher_layers}; "
                           "choose a student depth that divides the teacher's")
    return [m * teacher_layers // student_layers for m in range(1, student_layers + 1)]


class AttentionScores:
    """Captures each layer's attention scores Q K^T / sqrt(d), per head, from its query and key layers."""

    def __init__(self, model: nn.Module):
        _, layers = layer_stack(model)
        self.heads = model.config.num_attention_heads
        self.scores: list[torch.Tensor] = []
        self._q: dict[int, torch.Tensor] = {}
        self.handles = []
        for i, layer in enumerate(layers):
            attention = getattr(getattr(layer, "attention", None), "self", None)
            if attention is None or not hasattr(attention, "query") or not hasattr(attention, "key"):
                raise LmlearnError("tinybert reads attention scores from BERT-style layers (attention.self.query "
                                   f"and key); {type(model).__name__} has none")
            self.handles.append(attention.query.register_forward_hook(self._keep_query(i)))
            self.handles.append(attention.key.register_forward_hook(self._scores(i)))

    def _keep_query(self, i: int) -> Any:
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            self._q[i] = out
        return hook

    def _scores(self, i: int) -> Any:
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            q, k = self._q.pop(i), out
            b, t, width = q.shape
            d = width // self.heads
            q = q.view(b, t, self.heads, d).transpose(1, 2)
            k = k.view(b, t, self.heads, d).transpose(1, 2)
            self.scores.append(q @ k.transpose(-1, -2) / math.sqrt(d))
        return hook

    def take(self) -> list[torch.Tensor]:
        scores, self.scores = self.scores, []
        return scores


class StudentWithProjection(nn.Module):
    """The student and the learned map of its width to the teacher's, trained together (one forward,
    so a DDP wrapper sees one call)."""

    def __init__(self, student: nn.Module, teacher_width: int):
        super().__init__()
        self.student = student
        self.projection = nn.Linear(student.config.hidden_size, teacher_width)
        self.attention = AttentionScores(student)

    def forward(self, **inputs: Any) -> tuple[Any, list[torch.Tensor], list[torch.Tensor]]:
        out = self.student(**inputs, output_hidden_states=True)
        return out, [self.projection(h) for h in out.hidden_states], self.attention.take()


class TinyBERT(Distiller, MaskedLM):
    """Layer-to-layer distillation of a BERT-style masked LM."""

    name = "tinybert"
    families = ("bert", "roberta", "electra")  # layers with attention.self.query/key
    Options = TinyBERTOptions

    def trainable(self, student: nn.Module, teacher: nn.Module) -> nn.Module:
        if student.config.num_attention_heads != teacher.config.num_attention_heads:
            raise LmlearnError(f"tinybert matches attention head by head: the student has "
                               f"{student.config.num_attention_heads} heads, the teacher "
                               f"{teacher.config.num_attention_heads}")
        self.teacher_attention = AttentionScores(teacher)
        self.map = layer_map(num_layers(student.config), num_layers(teacher.config))
        return StudentWithProjection(student, teacher.config.hidden_size)

    def student_of(self, trained: nn.Module) -> nn.Module:
        return trained.student

    def step(self, models: Models, batch: dict[str, Any]) -> StepOutput:
        """Intermediate stage: att + hidden + emb (per token); prediction stage: soft cross-entropy
        over the masked positions (a task's rows, labelled tokens, or QA's start and end). Each term is a metric."""
        inputs = split_inputs(batch)
        with torch.no_grad():
            teacher = models["teacher"](**inputs, output_hidden_states=True)
            teacher_scores = self.teacher_attention.take()
        student, projected, scores = models.model(**inputs)
        if self.cfg.tinybert_stage == "prediction":  # masked positions; a task's rows or labelled tokens
            pairs = self.soft_pairs(student, teacher, batch)
            pred = mean_loss(soft_cross_entropy, pairs, self.cfg.temperature)
            return StepOutput(pred, count_targets(batch), {"pred": pred.detach()})
        return intermediate_step(self.map, batch["attention_mask"].bool(), scores, teacher_scores, projected,
                                 teacher.hidden_states)


def intermediate_step(layers: list[int], real: torch.Tensor, scores: list[torch.Tensor],
                      teacher_scores: list[torch.Tensor], projected: list[torch.Tensor],
                      teacher_hidden: tuple[torch.Tensor, ...]) -> StepOutput:
    """TinyBERT's intermediate loss, per real token: student layer m against teacher layer layers[m-1]."""
    keys = real[:, None, None, :]
    att = sum(mse(torch.where(keys, s, 0.0), torch.where(keys, teacher_scores[g - 1], 0.0))
              for s, g in zip(scores, layers))
    hidden = sum(mse(projected[m][real], teacher_hidden[g][real]) for m, g in enumerate(layers, 1))
    emb = mse(projected[0][real], teacher_hidden[0][real])
    loss = att + hidden + emb
    return StepOutput(loss, real.sum(), {"att": att.detach(), "hidden": hidden.detach(), "emb": emb.detach()})


class TaskTinyBERT(TaskDistillation):
    """TinyBERT's task-specific distillation on a fine-tuned teacher's batches: the intermediate stage
    (att, hidden, emb, as on a corpus) then, in a second run, the prediction stage (soft cross-entropy
    between the two heads' outputs at T, per example or labelled token)."""

    def __init__(self, cfg: Any, task: Any):
        super().__init__(cfg, task)
        self.families = tuple(f for f in task.families if f in TinyBERT.families)

    trainable = TinyBERT.trainable
    student_of = TinyBERT.student_of

    step = TinyBERT.step
