"""`lmlearn instruct`: supervised instruction tuning (SFT) on conversations, the loss on assistant tokens only
(the workflow: lmlearn.workflows.instruct; see docs/instruct.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlearn.workflows.instruct import Config, InstructConfig, run

__all__ = ["Config", "InstructConfig", "main", "run"]


def print_summary(summary: dict[str, Any], out: str) -> None:
    """The few lines a person wants to see at the end of a run."""
    keys = ["template", "train_examples", "assistant_tokens", "packing_efficiency", "trainable_parameters", "steps",
            "final_train_loss", "initial_eval_loss", "eval_loss", "wall_time_sec"]
    width = max(map(len, keys))
    for key in keys:
        value = summary.get(key)
        print(f"  {key:<{width}}  {f'{value:.4g}' if isinstance(value, float) else value}")
    saved = "adapter" if summary["peft"] else "model"
    print(f"{saved} saved to {Path(out) / saved}")


def main(cfg: InstructConfig) -> int:
    """CLI entry: run and print the summary."""
    print_summary(run(cfg), cfg.out)
    return 0
