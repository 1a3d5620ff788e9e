"""`lmlearn ppo`: align a causal LM with PPO against a reward, with a KL penalty to the starting model (the
workflow: lmlearn.workflows.ppo; see docs/align.md)."""

from __future__ import annotations

from pathlib import Path

from lmlearn.workflows.ppo import Config, PPOConfig, run

__all__ = ["Config", "PPOConfig", "main", "run"]


def main(cfg: PPOConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("steps", "rollouts", "start_score", "eval_score", "eval_kl", "final_kl_coef"):
        value = summary[key]
        print(f"  {key:<14} {f'{value:.4g}' if isinstance(value, float) else value}")
    print(f"policy saved to {Path(cfg.out) / ('adapter' if cfg.peft else 'model')}")
    return 0
