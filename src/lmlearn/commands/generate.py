"""`lmlearn generate`: continue a prompt with a trained model (the workflow: lmlearn.workflows.generate)."""

from __future__ import annotations

from lmlearn.workflows.generate import Config, generate

__all__ = ["Config", "generate", "main"]


def main(cfg: Config) -> int:
    """CLI entry: print each continuation after the prompt."""
    for i, text in enumerate(generate(cfg)):
        if cfg.num_return_sequences > 1:
            print(f"--- {i + 1}")
        print(cfg.prompt + text)
    return 0
