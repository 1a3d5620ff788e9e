"""`lmlearn merge`: fold a LoRA or IA3 adapter into its base model (the workflow: lmlearn.workflows.merge)."""

from __future__ import annotations

from lmlearn.workflows.merge import Config, merge

__all__ = ["Config", "main", "merge"]


def main(cfg: Config) -> int:
    """CLI entry: merge and say where the model went."""
    print(f"merged model saved to {merge(cfg)}")
    return 0
