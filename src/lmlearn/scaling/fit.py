"""Fitting a scaling law the way the Chinchilla paper's approach 3 does (Hoffmann et al. 2022, appendix D.2):

    L(N, D) = E + A / N^alpha + B / D^beta

written as L = exp(LSE(a - alpha log N, b - beta log D, e)) with A = e^a, B = e^b, E = e^e, and fitted by
minimising the Huber loss (delta 1e-3) of log L's residuals with L-BFGS, started from the best points of a grid
(alpha, beta in 0..2, e in -1..1, a, b in 0..25). `form` "n" or "d" fits one variable alone (E + A / N^alpha,
E + B / D^beta). Intervals: percentile bootstrap over the points, each resample refitted from the full fit and
the grid's best starts. The compute-optimal split of C = 6 N D follows from the fitted law:
N_opt(C) = G (C / 6)^(beta / (alpha + beta)), G = (alpha A / (beta B))^(1 / (alpha + beta))."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lmlearn.errors import LmlearnError

Form = Literal["nd", "n", "d"]
HUBER_DELTA = 1e-3
PARAMS = {"nd": ("E", "A", "alpha", "B", "beta"), "n": ("E", "A", "alpha"), "d": ("E", "B", "beta")}


@dataclass
class Points:
    """Measured (parameters, tokens, loss) triples."""

    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray

    def __post_init__(self) -> None:
        for name in ("params", "tokens", "loss"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise LmlearnError(f"scaling fit: every {name} must be a positive number")
            setattr(self, name, values)
        if not len(self.params) == len(self.tokens) == len(self.loss):
            raise LmlearnError("scaling fit: params, tokens and loss must have one value per point")

    def take(self, index: np.ndarray) -> "Points":
        return Points(self.params[index], self.tokens[index], self.loss[index])


def _terms(theta: np.ndarray, pts: Points, form: Form) -> np.ndarray:
    """The log-space terms whose log-sum-exp is the predicted log loss, one row per term."""
    log_n, log_d = np.log(pts.params), np.log(pts.tokens)
    if form == "nd":
        e, a, alpha, b, beta = theta
        return np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    if form == "n":
        e, a, alpha = theta
        return np.stack([a - alpha * log_n, np.full_like(log_n, e)])
    e, b, beta = theta
    return np.stack([b - beta * log_d, np.full_like(log_d, e)])


def _objective(theta: np.ndarray, pts: Points, form: Form) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of the log residuals, and its gradient."""
    terms = _terms(theta, pts, form)
    top = terms.max(axis=0)
    weights = np.exp(terms - top)
    total = weights.sum(axis=0)
    residual = top + np.log(total) - np.log(pts.loss)
    small = np.abs(residual) <= HUBER_DELTA
    value = np.where(small, 0.5 * residual ** 2, HUBER_DELTA * (np.abs(residual) - 0.5 * HUBER_DELTA)).sum()
    slope = np.where(small, residual, HUBER_DELTA * np.sign(residual))
    share = weights / total  # d(LSE)/d(term)
    log_n, log_d = np.log(pts.params), np.log(pts.tokens)
    if form == "nd":
        rows = [share[2], share[0], -share[0] * log_n, share[1], -share[1] * log_d]
    elif form == "n":
        rows = [share[1], share[0], -share[0] * log_n]
    else:
        rows = [share[1], share[0], -share[0] * log_d]
    return float(value), np.array([(slope * r).sum() for r in rows])


def _grid(form: Form) -> np.ndarray:
    e, scale, exponent = np.arange(-1, 1.01, 0.5), np.arange(0, 25.1, 5), np.arange(0, 2.01, 0.5)
    axes = {"nd": (e, scale, exponent, scale, exponent), "n": (e, scale, exponent), "d": (e, scale, exponent)}[form]
    return np.array(list(itertools.product(*axes)))


def _minimise(pts: Points, form: Form, starts: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    best, best_value = None, np.inf
    for start in starts:
        result = minimize(_objective, start, args=(pts, form), jac=True, method="L-BFGS-B")
        if result.fun < best_value:
            best, best_value = result.x, result.fun
    return best


def _best_starts(pts: Points, form: Form, k: int) -> np.ndarray:
    grid = _grid(form)
    values = np.array([_objective(theta, pts, form)[0] for theta in grid])
    return grid[np.argsort(values)[:k]]


def _named(theta: np.ndarray, form: Form) -> dict[str, float]:
    """Natural parameters (E, A, B from their logs)."""
    raw = dict(zip({"nd": ("e", "a", "alpha", "b", "beta"), "n": ("e", "a", "alpha"), "d": ("e", "b", "beta")}[form],
                   theta))
    out = {"E": float(np.exp(raw["e"]))}
    if "a" in raw:
        out.update(A=float(np.exp(raw["a"])), alpha=float(raw["alpha"]))
    if "b" in raw:
        out.update(B=float(np.exp(raw["b"])), beta=float(raw["beta"]))
    return out


def fit_law(pts: Points, form: Form = "nd", bootstrap: int = 200, level: float = 0.95, seed: int = 0,
            starts: int = 10) -> dict[str, object]:
    """The fitted parameters, their percentile bootstrap intervals, and the fit's residual spread."""
    need = len(PARAMS[form]) + 1
    if len(pts.loss) < need:
        raise LmlearnError(f"scaling fit: {len(pts.loss)} points cannot fit {len(PARAMS[form])} parameters; "
                           f"give at least {need}")
    if form == "nd" and (len(set(pts.params)) < 2 or len(set(pts.tokens)) < 2):
        raise LmlearnError("scaling fit: L(N, D) needs at least two sizes and two token budgets")
    grid_starts = _best_starts(pts, form, starts)
    theta = _minimise(pts, form, grid_starts)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):
        index = rng.integers(0, len(pts.loss), len(pts.loss))
        draws.append(_named(_minimise(pts.take(index), form, np.vstack([theta, grid_starts[:3]])), form))
    fitted = _named(theta, form)
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    intervals = {k: [float(np.quantile([d[k] for d in draws], low)), float(np.quantile([d[k] for d in draws], high))]
                 for k in fitted} if draws else {}
    predicted = predict(fitted, pts.params, pts.tokens)
    return {"form": form, **fitted, "intervals": intervals, "level": level, "bootstrap": bootstrap,
            "points": int(len(pts.loss)),
            "rms_log_residual": float(np.sqrt(np.mean((np.log(predicted) - np.log(pts.loss)) ** 2)))}


def predict(law: dict[str, float], params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """L(N, D) of a fitted law (a term the law lacks contributes nothing)."""
    loss = np.full(np.shape(params), law["E"], dtype=np.float64)
    if "A" in law:
        loss = loss + law["A"] / np.asarray(params, dtype=np.float64) ** law["alpha"]
    if "B" in law:
        loss = loss + law["B"] / np.asarray(tokens, dtype=np.float64) ** law["beta"]
    return loss


def compute_optimal(law: dict[str, float], compute: float) -> dict[str, float]:
    """The N and D that minimise L(N, D) at C = 6 N D, and their ratio (tokens per parameter)."""
    if "A" not in law or "B" not in law:
        raise LmlearnError("the compute-optimal split needs a fit of both N and D (form nd)")
    a, b = law["alpha"], law["beta"]
    g = (a * law["A"] / (b * law["B"])) ** (1 / (a + b))
    n = g * (compute / 6) ** (b / (a + b))
    d = compute / 6 / n
    return {"compute": compute, "params": float(n), "tokens": float(d), "tokens_per_param": float(d / n),
            "loss": float(predict(law, np.array([n]), np.array([d]))[0])}
