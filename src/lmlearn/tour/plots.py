"""Plots for the tour report (matplotlib, no display needed)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from lmlearn.extras import require
from lmlearn.fonts import hangul_labels
from lmlearn.engine.metrics import read_metrics


def loss_curve(metrics_file: Path, png: Path, title: str, ylabel: str = "cross-entropy (nats/token)") -> Path:
    """Training and held-out loss against step, saved as a PNG."""
    rows = read_metrics(metrics_file)
    with figure(png, "step", ylabel, title) as ax:
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss")
        evals = [r for r in rows if "eval_loss" in r]
        if evals:
            ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="held-out loss")
        ax.legend()
    return png


@contextmanager
def figure(png: Path, xlabel: str, ylabel: str, title: str) -> Iterator[Any]:
    """An Axes to draw on; on leaving, the figure is laid out and saved as `png`."""
    matplotlib = require("matplotlib", "the tour's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        hangul_labels(fig)
        png.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # a missing Hangul glyph is said once by hangul_labels, not per glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            fig.tight_layout()
            fig.savefig(png)
    finally:
        plt.close(fig)
