"""`lmlearn self-instruct`: grow instruction data from seed tasks with a model, the Self-Instruct loop or Alpaca's
variant (the workflow: lmlearn.workflows.self_instruct)."""

from __future__ import annotations

import sys
from typing import Any

from lmlearn.workflows.self_instruct import Config, run

__all__ = ["Config", "main", "run"]


def _progress(counts: Any) -> None:
    print(f"self-instruct: round {counts.rounds}: {counts.tasks} tasks, {counts.pooled} instructions pooled of "
          f"{counts.candidates} generated; {counts.requests} requests ({counts.cached} from the cache)",
          file=sys.stderr, flush=True)


def main(cfg: Config) -> int:
    """CLI entry: grow the pool, then print what each filter dropped and what was sent."""
    from lmlearn.translate.driver import default_side_file

    try:
        counts = run(cfg, on_round=_progress)
    except KeyboardInterrupt:
        cache = cfg.cache or default_side_file(cfg.out, ".cache.sqlite")
        print(f"lmlearn: interrupted; the replies so far are saved in {cache}: rerun the same command to go on",
              file=sys.stderr)
        return 130
    print(f"wrote {cfg.out}: {counts.tasks} generated tasks ({counts.classification} classification) with "
          f"{counts.instances} instances, from {counts.candidates} generated instructions in {counts.rounds} rounds; "
          f"stopped: {counts.stopped}")
    print(f"{counts.requests} requests: {counts.sent} sent, {counts.cached} from the cache")
    if counts.unclear:
        print(f"  {counts.unclear} answers to \"is it classification?\" were neither yes nor no (taken as no)")
    for reason, n in counts.dropped.items():
        print(f"  dropped {n:>5}  {reason}")
    print(f"each drop is in {default_side_file(cfg.out, '.dropped.jsonl')}, "
          f"the counts in {default_side_file(cfg.out, '.stats.json')}")
    return 0
