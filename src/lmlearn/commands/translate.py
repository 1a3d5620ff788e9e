"""`lmlearn translate`: translate an instruction dataset field by field (DeepL, an OpenAI-compatible
endpoint, or a local seq2seq model; the workflow: lmlearn.workflows.translate)."""

from __future__ import annotations

import sys
from typing import Any, Callable

from lmlearn.workflows.translate import Config, run

__all__ = ["Config", "main", "run"]


def _progress() -> Callable[[Any, int], None]:
    """A callback that prints a line on stderr each time another tenth of the missing texts is done."""
    shown = [-1]

    def show(stats: Any, total: int) -> None:
        tenth = (stats.translated + stats.failed) * 10 // total
        if tenth != shown[0]:
            shown[0] = tenth
            print(f"translate: {stats.translated + stats.failed}/{total} texts sent ({stats.requests} requests)",
                  file=sys.stderr, flush=True)
    return show


def main(cfg: Config) -> int:
    """CLI entry: translate, then print what was translated, cached and billed."""
    from lmlearn.translate.driver import default_side_file

    try:
        stats = run(cfg, on_batch=_progress())
    except KeyboardInterrupt:
        cache = cfg.cache or default_side_file(cfg.out, ".cache.sqlite")
        print(f"lmlearn: interrupted; the translations so far are saved in {cache}: rerun the same command to go on",
              file=sys.stderr)
        return 130
    print(f"wrote {cfg.out}: {stats.rows} rows, {stats.strings} strings in {stats.pieces} distinct pieces")
    billed = "billed" if cfg.backend == "deepl" else "sent"  # chat APIs bill tokens, local models nothing
    print(f"translated {stats.translated} pieces in {stats.requests} requests, {stats.cached} from the cache; "
          f"{stats.characters} characters {billed}")
    if stats.problems:
        print(f"{len(stats.problems)} pieces kept in the source language (protected spans lost or no usable "
              f"translation): see {default_side_file(cfg.out, '.problems.jsonl')}; a rerun asks again")
    return 0
