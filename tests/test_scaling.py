"""Scaling-law fitting (Chinchilla's approach 3): points drawn from a known law with noise give back its
parameters within 10%, with intervals that cover them; the compute-optimal split follows the law."""

import csv
import json
import re
import shutil

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


def test_the_command_plots_the_fit(tmp_path):
    pts = _points(seed=3)
    path = tmp_path / "points.csv"
    path.write_text("params,tokens,loss\n" + "".join(f"{n},{d},{l}\n" for n, d, l in zip(pts.params, pts.tokens,
                                                                                           pts.loss)))
    assert cli.main(["scaling", "fit", "--points", str(path), "--bootstrap", "0", "--plot",
                     str(tmp_path / "fit.png")]) == 0
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = tmp_path / "report" / "scaling.html"
    page.parent.mkdir()
    assert cli.main(["scaling", "fit", "--points", str(path), "--bootstrap", "5", "--compute", "1e21",
                     "--report", str(page)]) == 0
    text = page.read_text()
    image = re.search(r'<img src="([^"]+)"', text).group(1)
    assert (page.parent / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the figure the page names is there
    assert text.count("<tr>") == 1 + 5 + 2 + 1 + len(pts.loss)  # 5 parameters, 1 budget, every point
    assert "Chinchilla α 0.34" in text and "tokens per parameter" in text


SWEEP = ["scaling", "sweep", "--models", "gpt2-0.02m,gpt2-0.05m", "--tokens", "4096,8192", "--block-size", "32",
         "--batch-size", "8", "--data", "builtin:corpus?docs=200", "--eval-data", "builtin:corpus?docs=30&seed=1",
         "--eval-batches", "2", "--vocab-size", "400"]


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_sweep_is_ordinary_runs_that_resume(tmp_path, capsys):
    """Each point is a pretrain run folder on one tokenizer and one held-out set, its N the preset's and its
    learning rate Kaplan's rule; a rerun trains nothing; a point cut off mid-run resumes to the same loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lmlearn.models.factory import describe_presets
    from lmlearn.scaling.sweep import kaplan_lr

    out = tmp_path / "sweep"
    assert cli.main([*SWEEP, "--out", str(out)]) == 0
    rows = _csv(out / "points.csv")
    sizes = {r["name"]: r["non_embedding_parameters"] for r in describe_presets()}
    assert [(r["model"], int(r["tokens"])) for r in rows] == [
        ("gpt2-0.02m", 4096), ("gpt2-0.02m", 8192), ("gpt2-0.05m", 4096), ("gpt2-0.05m", 8192)]
    vocab = AutoTokenizer.from_pretrained(out / "tokenizer").get_vocab()
    for r in rows:
        run = out / r["run"]
        assert int(r["params"]) == sizes[r["model"]] and float(r["lr"]) == pytest.approx(kaplan_lr(sizes[r["model"]]),
                                                                                         rel=1e-3)
        summary = json.loads((run / "summary.json").read_text())
        assert summary["steps"] == int(r["tokens"]) // 256 and float(r["loss"]) == pytest.approx(summary["eval_loss"])
        assert AutoTokenizer.from_pretrained(run / "model").get_vocab() == vocab
        AutoModelForCausalLM.from_pretrained(run / "model")
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])  # more tokens, lower held-out loss
    capsys.readouterr()

    assert cli.main([*SWEEP, "--out", str(out)]) == 0  # nothing left to train
    assert capsys.readouterr().out.count("(done before)") == 4 and _csv(out / "points.csv") == rows

    # cut the last point off mid-run: its summary and model gone, only a checkpoint before its last step left
    last = out / rows[-1]["run"]
    (last / "summary.json").unlink()
    shutil.rmtree(last / "model")
    checkpoints = sorted((last / "checkpoints").iterdir())
    for newer in checkpoints[1:]:
        shutil.rmtree(newer)
    assert int(checkpoints[0].name.split("-")[-1]) < 32
    assert cli.main([*SWEEP, "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("(done before)") == 3
    again = _csv(out / "points.csv")
    assert float(again[-1]["loss"]) == pytest.approx(float(rows[-1]["loss"]), abs=1e-5)
