"""`lmlearn dpo`: direct preference optimisation of a causal LM (the workflow: lmlearn.workflows.dpo; see
docs/align.md)."""

from __future__ import annotations

from pathlib import Path

from lmlearn.workflows.dpo import Config, DPOConfig, run

__all__ = ["Config", "DPOConfig", "main", "run"]


def main(cfg: DPOConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("train_pairs", "eval_pairs", "steps", "final_train_loss", "eval_loss", "eval_reward_accuracy"):
        value = summary.get(key)
        print(f"  {key:<20} {f'{value:.4g}' if isinstance(value, float) else value}")
    print(f"policy saved to {Path(cfg.out) / ('adapter' if cfg.peft else 'model')}")
    return 0
