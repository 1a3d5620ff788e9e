"""Distillation losses, each a mean over the positions it is given (rows of logits or states).

Conventions: `teacher` and `student` are logits (..., V) or hidden states (..., H); a KL is
KL(P || Q) = sum_v P log(P / Q); temperatures soften both sides and the soft loss is scaled by T^2
(Hinton et al. 2015), so its gradients keep their size as T changes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T^2 * KL(teacher_T || student_T) per row, averaged: DistilBERT's L_ce and Hinton's soft loss."""
    t = temperature
    log_q = F.log_softmax(student.float() / t, dim=-1)
    log_p = F.log_softmax(teacher.float() / t, dim=-1)
    return (t * t) * F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1).mean()


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """-sum_v softmax(teacher/T) log softmax(student/T), averaged: TinyBERT's prediction-layer loss."""
    log_q = F.log_softmax(student.float() / temperature, dim=-1)
    return -(F.softmax(teacher.float() / temperature, dim=-1) * log_q).sum(-1).mean()


def forward_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) per position, averaged (mode-covering; the usual KD)."""
    return soft_kl(student, teacher, temperature) / (temperature * temperature)


def reverse_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(student || teacher) per position, averaged (mode-seeking; MiniLLM's objective)."""
    return forward_kl(teacher, student, temperature)


def generalized_jsd(student: torch.Tensor, teacher: torch.Tensor, beta: float = 0.5,
                    temperature: float = 1.0) -> torch.Tensor:
    """GKD's generalized Jensen-Shannon divergence (Agarwal et al. 2024), averaged over positions:
    beta KL(teacher || M) + (1 - beta) KL(student || M) with M = beta teacher + (1 - beta) student;
    the ends are defined as GKD and TRL define them: beta = 0 is forward KL(teacher || student) and
    beta = 1 reverse KL(student || teacher)."""
    if beta <= 0:
        return forward_kl(student, teacher, temperature)
    if beta >= 1:
        return reverse_kl(student, teacher, temperature)
    log_q = F.log_softmax(student.float() / temperature, dim=-1)
    log_p = F.log_softmax(teacher.float() / temperature, dim=-1)
    log_m = torch.logsumexp(torch.stack([log_p + math.log(beta), log_q + math.log(1 - beta)]), dim=0)
    kl_p = F.kl_div(log_m, log_p, log_target=True, reduction="none").sum(-1)
    kl_q = F.kl_div(log_m, log_q, log_target=True, reduction="none").sum(-1)
    return (beta * kl_p + (1 - beta) * kl_q).mean()


def cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 - cos(student, teacher) per row, averaged: DistilBERT's L_cos on the last hidden states."""
    return (1 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()


def mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element: TinyBERT's attention, hidden and embedding losses."""
    return F.mse_loss(student.float(), teacher.float())


DIVERGENCES = {"forward": forward_kl, "reverse": reverse_kl}
