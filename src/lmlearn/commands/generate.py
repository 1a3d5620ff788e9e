"""`lmlearn generate`: continue a prompt with a trained model (the workflow: lmlearn.workflows.generate)."""

from __future__ import annotations

import sys
from typing import Iterator

from lmlearn.workflows.generate import Config, chat, generate

__all__ = ["Config", "generate", "main"]


def _typed_turns(first: str) -> Iterator[str]:
    """--prompt (if given), then one turn per line of standard input, with a prompt sign when a person types."""
    if first:
        print(f"> {first}")
        yield first
    while True:
        if sys.stdin.isatty():
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        yield line.rstrip("\n")


def main(cfg: Config) -> int:
    """CLI entry: print each continuation after the prompt; with --chat, each reply after its turn."""
    if cfg.chat:
        for reply in chat(cfg, _typed_turns(cfg.prompt)):
            print(reply, flush=True)
        return 0
    for i, text in enumerate(generate(cfg)):
        if cfg.num_return_sequences > 1:
            print(f"--- {i + 1}")
        print(cfg.prompt + text)
    return 0
