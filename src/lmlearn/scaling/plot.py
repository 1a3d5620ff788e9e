"""The scaling report's figure: loss against parameters per token budget, against compute with the fitted
compute-optimal frontier, and the fitted IsoFLOP curves (loss against N at fixed compute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lmlearn.extras import require


def plot_fit(points: Any, law: dict[str, Any], png: str | Path) -> Path:
    """Measured points and the fitted L(N, D): left, loss vs N (one colour per budget D, the fit as a line);
    middle, loss vs C = 6ND, with the fit's frontier min over N of L(N, C / 6N); right (when the law has both
    terms), IsoFLOP curves: L(N, C / 6N) against N at three budgets spanning the points' compute, the fitted
    optimum marked, and the points within 30% of each budget."""
    from lmlearn.scaling.fit import compute_optimal, predict

    matplotlib = require("matplotlib", "the scaling plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, d, loss = (np.asarray(x, dtype=np.float64) for x in (points.params, points.tokens, points.loss))
    both = "A" in law and "B" in law
    fig, axes = plt.subplots(1, 3 if both else 2, figsize=(15 if both else 10, 3.8), dpi=100)
    left, right = axes[0], axes[1]
    grid_n = np.geomspace(n.min() / 1.5, n.max() * 1.5, 60)
    budgets = sorted(set(np.round(d, -3)))
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(budgets), 1)))
    for colour, budget in zip(colours, budgets):
        mask = np.isclose(np.round(d, -3), budget)
        left.scatter(n[mask], loss[mask], color=colour, label=f"D = {budget:.3g}")
        left.plot(grid_n, predict(law, grid_n, np.full_like(grid_n, budget)), color=colour, lw=1)
    left.set(xscale="log", xlabel="non-embedding parameters N", ylabel="held-out loss (nats/token)",
             title="Loss against size, per token budget")
    left.legend(fontsize=7)
    compute = 6 * n * d
    right.scatter(compute, loss, c=np.log(n), cmap="viridis", label="runs (colour: N)")
    if both:
        grid_c = np.geomspace(compute.min() / 2, compute.max() * 4, 60)
        right.plot(grid_c, [compute_optimal(law, c)["loss"] for c in grid_c], "k--", lw=1,
                   label="fitted frontier (best N per C)")
    right.set(xscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="held-out loss (nats/token)",
              title="Loss against compute")
    right.legend(fontsize=7)
    if both:
        _isoflops(axes[2], law, n, compute, loss, plt)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png


def _isoflops(ax: Any, law: dict[str, Any], n: np.ndarray, compute: np.ndarray, loss: np.ndarray, plt: Any) -> None:
    """Fitted IsoFLOP curves (Chinchilla's approach 2 picture, drawn from the approach-3 fit)."""
    from lmlearn.scaling.fit import compute_optimal, predict

    budgets = np.geomspace(compute.min(), compute.max(), 3)
    colours = plt.cm.plasma(np.linspace(0, 0.8, len(budgets)))
    grid_n = np.geomspace(n.min() / 10, n.max() * 10, 80)
    for colour, c in zip(colours, budgets):
        ax.plot(grid_n, predict(law, grid_n, c / (6 * grid_n)), color=colour, lw=1, label=f"C = {c:.2g}")
        best = compute_optimal(law, c)
        if grid_n[0] <= best["params"] <= grid_n[-1]:
            ax.plot([best["params"]], [best["loss"]], "*", color=colour, ms=10)
        near = np.abs(np.log(compute / c)) < np.log(1.3)
        ax.scatter(n[near], loss[near], color=colour, edgecolor="k", zorder=3)
    ax.set(xscale="log", xlabel="non-embedding parameters N", ylabel="held-out loss (nats/token)",
           title="IsoFLOP curves of the fit (star: its optimum)")
    ax.legend(fontsize=7)
