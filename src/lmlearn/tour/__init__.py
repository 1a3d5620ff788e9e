"""The learning-frameworks tour: stages run in order on built-in data, into one report.

A stage is a function `(TourContext) -> StageResult` in its own module, listed in STAGES.
Later learning frameworks add a stage here, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lmlearn.registry import import_spec

STAGES = [
    "lmlearn.tour.clm:stage",
    "lmlearn.tour.icl:stage",  # pre-trains its own small model on word lists
    "lmlearn.tour.instruct:stage",  # tunes the model the clm stage saved
    "lmlearn.tour.encoders:stage",
    "lmlearn.tour.transfer:stage",  # fine-tunes the encoders stage's models
    "lmlearn.tour.compare:stage",  # `lmlearn compare` of recipes/tour.yaml: full fine-tuning, LoRA, distillation
    "lmlearn.tour.align:stage",  # PPO and DPO from the clm stage's model against the compare stage's classifier
]


@dataclass
class TourContext:
    """What stages share: the output folder, the tour's size knob, and earlier stages' results."""

    out: Path
    steps: int
    seed: int
    progress: bool
    results: dict[str, "StageResult"] = field(default_factory=dict)


@dataclass
class StageResult:
    """One stage's contribution: summary rows (a table), extra HTML, plots (PNG files)."""

    name: str
    title: str
    rows: list[dict[str, Any]]
    html: str = ""
    plots: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # rows of summary.json (tour/summary.py)


def load_stage(spec: str) -> Callable[[TourContext], StageResult]:
    """Import a stage function from 'module:function'."""
    return import_spec(spec)
