"""`lmlearn scaling sweep`: pre-train a grid of model sizes x token budgets, one run folder per point, and
write OUT/points.csv for `lmlearn scaling fit` (lmlearn.scaling.sweep)."""

from __future__ import annotations

from pathlib import Path

from lmlearn.scaling.sweep import SweepConfig as Config, sweep

__all__ = ["Config", "main"]


def main(cfg: Config) -> int:
    """Run the sweep, then say how to fit it."""
    sweep(cfg)
    out = Path(cfg.out)
    print(f"wrote {out / 'points.csv'}; fit it: lmlearn scaling fit --points {out / 'points.csv'} "
          f"--out {out / 'fit.json'} --plot {out / 'fit.png'}")
    return 0
