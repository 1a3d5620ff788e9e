"""`lmlearn pretrain`: train a model from a preset, a folder or a Hub id with a pre-training objective
(the workflow: lmlearn.workflows.pretrain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlearn.workflows.pretrain import Config, PretrainConfig, run

__all__ = ["Config", "PretrainConfig", "main", "run"]


def print_summary(summary: dict[str, Any], out: str) -> None:
    """The few lines a person wants to see at the end of a run."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    keys = ["parameters", "trainable_parameters", "steps", "tokens_seen", "final_train_loss", "initial_eval_loss",
            "eval_loss", "eval_perplexity", "wall_time_sec"]
    width = max(map(len, keys))
    for key in keys:
        value = fmt(summary.get(key))
        if key == "trainable_parameters":
            value += f" ({summary['trainable_percent']:.3g}%)"
        print(f"  {key:<{width}}  {value}")
    if summary.get("peft"):
        print(f"{summary['peft']} adapter saved to {Path(out) / 'adapter'}")
    else:
        print(f"model saved to {Path(out) / 'model'}")


def main(cfg: PretrainConfig) -> int:
    """CLI entry: run and print the summary."""
    print_summary(run(cfg), cfg.out)
    return 0
