"""`lmlearn pairs`: preference pairs from a reward: two sampled answers per prompt, ranked (the workflow:
lmlearn.workflows.pairs)."""

from __future__ import annotations

from lmlearn.workflows.pairs import Config, PairsConfig, run

__all__ = ["Config", "PairsConfig", "main", "run"]


def main(cfg: PairsConfig) -> int:
    """CLI entry: write the pairs and say how many."""
    summary = run(cfg)
    print(f"{summary['pairs']} pairs written to {cfg.out} ({summary['dropped']} dropped; mean score gap "
          f"{summary['mean_gap']:.3g})")
    return 0
