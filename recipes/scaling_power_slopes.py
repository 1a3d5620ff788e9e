"""Kaplan-style pure power-law exponents from a sweep's points (docs/results.md, the NSMC sweep).

  python recipes/scaling_power_slopes.py runs/sweep-nsmc/points.csv

log L = c_D - alpha_N log N with one intercept per token budget (the size exponent, every budget's points
together), and log L = c_N - alpha_D log D with one intercept per size; least squares, 95% percentile
bootstrap over the points (2,000 resamples). No irreducible term, as Kaplan et al.'s eq. 1.1-1.2, so the
exponents compare with their alpha_N 0.076 and alpha_D 0.095 (not with Chinchilla's, which has E).
"""

import csv
import json
import sys

import numpy as np


def slope(x: np.ndarray, group: np.ndarray, loss: np.ndarray) -> float:
    levels = sorted(set(group))
    design = np.column_stack([-np.log(x)] + [(group == g).astype(float) for g in levels])
    return float(np.linalg.lstsq(design, np.log(loss), rcond=None)[0][0])


def main(points: str) -> dict:
    rows = list(csv.DictReader(open(points, newline="")))
    n, d, loss = (np.array([float(r[k]) for r in rows]) for k in ("params", "tokens", "loss"))
    rng = np.random.default_rng(0)
    out = {}
    for name, x, group in (("alpha_N", n, d), ("alpha_D", d, n)):
        draws = []
        for _ in range(2000):
            i = rng.integers(0, len(loss), len(loss))
            if len(set(x[i])) > 1:
                draws.append(slope(x[i], group[i], loss[i]))
        out[name] = {"estimate": round(slope(x, group, loss), 4), "low": round(float(np.quantile(draws, 0.025)), 4),
                     "high": round(float(np.quantile(draws, 0.975)), 4)}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(main(sys.argv[1])))
