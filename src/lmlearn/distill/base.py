"""What the distillation methods share: the student they build and what they save."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from lmlearn.distill.student import num_layers, parse_layers, student_from_teacher


class Distiller:
    """Mixed into an objective (its data and masking): builds the student, keeps it when saving."""

    head: ClassVar[str]
    families: ClassVar[tuple[str, ...]]

    def build_student(self, teacher: torch.nn.Module, spec: str, seed: int) -> torch.nn.Module:
        """`--student`: empty for the teacher's architecture with `--layers` of its layers (every other by
        default), copied from it; else a preset or folder, built for the teacher's tokenizer."""
        if not spec:
            return student_from_teacher(teacher, parse_layers(self.cfg.layers, num_layers(teacher.config)))
        from lmlearn.models.factory import load_model

        return load_model(spec, self.head, self.tokenizer, seed=seed)

    def trainable(self, student: torch.nn.Module, teacher: torch.nn.Module) -> torch.nn.Module:
        """The module the engine trains (the student; TinyBERT adds its projection)."""
        return student

    def student_of(self, trained: torch.nn.Module) -> torch.nn.Module:
        """The student inside what was trained."""
        return trained

    def soft_pairs(self, student: Any, teacher: Any, batch: dict[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(student, teacher) logits that the soft loss compares, one distribution per row: at the positions
        with a target (masked tokens; a task's rows or labelled tokens)."""
        keep = target_positions(batch["labels"])
        return [(student.logits[keep], teacher.logits[keep])]

    def save(self, student: torch.nn.Module, path: str | Path) -> None:
        """The student as a folder its Auto class loads, with the teacher's tokenizer."""
        from lmlearn.models.factory import save_model

        save_model(student, self.tokenizer, path)


TARGETS = ("labels", "start_positions", "end_positions")  # what a head's own loss reads


def split_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The model inputs of a batch (no targets)."""
    return {k: v for k, v in batch.items() if k not in (*TARGETS, "sample_seed")}


def target_positions(labels: torch.Tensor) -> torch.Tensor:
    """Where a batch has targets: every row of a one-label-per-row batch, else the positions not marked -100
    (masked tokens, labelled tokens of a tagger)."""
    return labels != -100 if labels.dim() > 1 else torch.ones_like(labels, dtype=torch.bool)
