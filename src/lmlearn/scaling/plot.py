"""The scaling report's figure: loss against parameters per token budget, and against compute with the
fitted compute-optimal frontier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lmlearn.extras import require


def plot_fit(points: Any, law: dict[str, Any], png: str | Path) -> Path:
    """Measured points and the fitted L(N, D): left, loss vs N (one colour per budget D, the fit as a line);
    right, loss vs C = 6ND, with the fit's frontier min over N of L(N, C / 6N) when it has both terms."""
    from lmlearn.scaling.fit import compute_optimal, predict

    matplotlib = require("matplotlib", "the scaling plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, d, loss = (np.asarray(x, dtype=np.float64) for x in (points.params, points.tokens, points.loss))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
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
    if "A" in law and "B" in law:
        grid_c = np.geomspace(compute.min() / 2, compute.max() * 4, 60)
        right.plot(grid_c, [compute_optimal(law, c)["loss"] for c in grid_c], "k--", lw=1,
                   label="fitted frontier (best N per C)")
    right.set(xscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="held-out loss (nats/token)",
              title="Loss against compute")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png
