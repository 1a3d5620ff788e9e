"""Scaling-law fitting (Chinchilla's approach 3): points drawn from a known law with noise give back its
parameters within 10%, with intervals that cover them; the compute-optimal split follows the law."""

import csv
import json

import numpy as np
import pytest

from lmlearn import cli
from lmlearn.errors import LmlearnError
from lmlearn.scaling.fit import Points, compute_optimal, fit_law, predict

TRUE = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}  # Chinchilla's fit


def _points(seed=1, noise=0.005):
    rng = np.random.default_rng(seed)
    n = np.repeat(np.logspace(6, 9, 8), 6)
    d = np.tile(np.logspace(8, 11, 6), 8)
    return Points(n, d, predict(TRUE, n, d) * np.exp(rng.normal(0, noise, n.size)))


def test_a_fit_recovers_a_known_law_and_its_intervals_cover_it():
    result = fit_law(_points(), "nd", bootstrap=60)
    for name, truth in TRUE.items():
        assert result[name] == pytest.approx(truth, rel=0.10), name
        low, high = result["intervals"][name]
        assert low <= truth <= high, name
    assert result["rms_log_residual"] < 0.01


def test_the_compute_optimal_split_minimises_the_law_at_that_compute():
    best = compute_optimal(TRUE, 1e21)
    assert 6 * best["params"] * best["tokens"] == pytest.approx(1e21)
    for factor in (0.5, 2.0):  # any other split of the same compute is worse
        n = best["params"] * factor
        assert predict(TRUE, np.array([n]), np.array([1e21 / 6 / n]))[0] > best["loss"]


def test_one_variable_laws_and_errors():
    n = np.logspace(5, 8, 8)
    law = {"E": 2.0, "A": 50.0, "alpha": 0.3}
    result = fit_law(Points(n, np.full(8, 1e9), predict(law, n, n)), "n", bootstrap=0)
    assert result["alpha"] == pytest.approx(0.3, rel=0.02) and "B" not in result
    with pytest.raises(LmlearnError, match="at least two sizes and two token budgets"):
        fit_law(Points(n, np.full(8, 1e9), predict(law, n, n)), "nd", bootstrap=0)
    with pytest.raises(LmlearnError, match="every loss must be a positive number"):
        Points([1.0], [1.0], [-1.0])


def test_the_command_reads_a_csv_and_names_a_bad_line(tmp_path, capsys):
    pts = _points(seed=2)
    path = tmp_path / "points.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["params", "tokens", "loss"])
        writer.writerows(zip(pts.params, pts.tokens, pts.loss))
    assert cli.main(["scaling", "fit", "--points", str(path), "--bootstrap", "10", "--compute", "1e21",
                     "--out", str(tmp_path / "fit.json")]) == 0
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["alpha"] == pytest.approx(0.34, rel=0.1) and fit["compute_optimal"][0]["tokens_per_param"] > 1
    assert "tokens per parameter" in capsys.readouterr().out
    path.write_text("params,tokens,loss\n1e6,1e8,2.5\n1e7,lots,2.1\n")
    assert cli.main(["scaling", "fit", "--points", str(path)]) != 0
    assert f"{path}:3: params, tokens and loss must be numbers" in capsys.readouterr().err
