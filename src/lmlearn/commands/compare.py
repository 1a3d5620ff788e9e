"""`lmlearn compare`: one task through several learning frameworks, one table, one report (the workflow:
lmlearn.workflows.compare; see docs/compare.md)."""

from __future__ import annotations

from lmlearn.workflows.compare import Config, run

__all__ = ["Config", "main", "run"]


def main(cfg: Config) -> int:
    """CLI entry: run the arms that have not finished, then print the table."""
    result = run(cfg)
    print(result["table"], end="")
    print(f"{'trained ' + ', '.join(result['ran']) if result['ran'] else 'every arm had finished; nothing trained'}; "
          f"report: {result['report']}")
    return 0
