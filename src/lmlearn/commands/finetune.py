"""`lmlearn finetune`: train a model on a downstream task (classify, pair, regress, tag, qa, seq2seq), then
predict the test data and score it (the workflow: lmlearn.workflows.finetune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlearn.workflows.finetune import Config, FinetuneConfig, run

__all__ = ["Config", "FinetuneConfig", "main", "run"]


def print_summary(summary: dict[str, Any], out: str) -> None:
    """The few lines a person wants to see at the end of a run."""
    keys = ["task", "init", "parameters", "trainable_parameters", "steps", "final_train_loss",
            *(["validation_loss", "best_step"] if "validation_loss" in summary else ["eval_loss"]),
            summary["metric"], *[k for k in ("macro_f1", "entity_f1", "f1", "exact_match", "rougeL", "bleu")
                                 if k in summary and k != summary["metric"]], "wall_time_sec"]
    width = max(map(len, keys))
    for key in keys:
        value = summary.get(key)
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        if key == "trainable_parameters":
            shown += f" ({summary['trainable_percent']:.3g}%)"
        print(f"  {key:<{width}}  {shown}")
    saved = f"{summary['peft']} adapter saved to {Path(out) / 'adapter'}" if summary.get("peft") else \
        f"model saved to {Path(out) / 'model'}"
    print(f"{saved}; predictions in {Path(out) / 'predictions.jsonl'}")


def main(cfg: Any) -> int:
    """CLI entry: run and print the summary."""
    print_summary(run(cfg), cfg.out)
    return 0
