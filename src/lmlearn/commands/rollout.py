"""`lmlearn rollout`: a policy's held-out reward and KL to a reference (the workflow: lmlearn.workflows.rollout)."""

from __future__ import annotations

from lmlearn.workflows.rollout import Config, RolloutConfig, run

__all__ = ["Config", "RolloutConfig", "main", "run"]


def main(cfg: RolloutConfig) -> int:
    """CLI entry: write the samples and print the means."""
    s = run(cfg)
    print(f"{s['prompts']} prompts: score {s['score']:.4g} (se {s['score_se']:.2g}), KL {s['kl']:.4g} nats, "
          f"{s['answer_tokens']:.1f} answer tokens; samples in {cfg.out}")
    return 0
