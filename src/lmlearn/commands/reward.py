"""`lmlearn reward`: train a reward model on preference pairs (the workflow: lmlearn.workflows.reward;
see docs/align.md)."""

from __future__ import annotations

from pathlib import Path

from lmlearn.workflows.reward import Config, RewardConfig, run

__all__ = ["Config", "RewardConfig", "main", "run"]


def main(cfg: RewardConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("train_pairs", "eval_pairs", "steps", "final_train_loss", "eval_loss", "eval_accuracy",
                "test_accuracy"):
        value = summary.get(key)
        print(f"  {key:<18} {f'{value:.4g}' if isinstance(value, float) else value}")
    print(f"reward model saved to {Path(cfg.out) / ('adapter' if cfg.peft else 'model')}")
    return 0
