"""`lmlearn distill`: train a smaller student against a frozen teacher (DistilBERT, TinyBERT, KD; the
workflow: lmlearn.workflows.distill)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlearn.workflows.distill import Config, DistillConfig, run

__all__ = ["Config", "DistillConfig", "main", "run"]


def main(cfg: Any) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("teacher_parameters", "student_parameters", "size_ratio", "speedup", "steps", "eval_loss"):
        print(f"  {key:<20} {summary[key]}")
    print(f"student saved to {Path(cfg.out) / 'model'}")
    return 0
