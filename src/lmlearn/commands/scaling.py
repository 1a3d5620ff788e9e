"""`lmlearn scaling fit`: a scaling law L(N, D) = E + A / N^alpha + B / D^beta (or L(N), L(D)) fitted to measured
points, with bootstrap intervals and the compute-optimal split (lmlearn.scaling.fit, Chinchilla's approach 3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Config:
    """Settings of `lmlearn scaling fit`."""

    points: str = option("", "a CSV with columns params, tokens, loss (one measured run per row)")
    runs: str = option("", "pretrain run folders instead (comma-separated, globs allowed): parameters, tokens_seen "
                           "and eval_loss from each summary.json")
    form: Literal["nd", "n", "d"] = option("nd", "nd: L(N, D) = E + A/N^alpha + B/D^beta; n: E + A/N^alpha; "
                                                 "d: E + B/D^beta")
    bootstrap: int = option(200, "bootstrap resamples for the intervals (0: none)", range=">=0")
    level: float = option(0.95, "confidence level of the intervals", range="(0, 1)")
    compute: str = option("", "FLOP budgets (comma-separated, e.g. 1e18,1e21) to split compute-optimally (form nd)")
    seed: int = option(0, "seed of the resampling")
    out: str = option("", "write the fit to this .json file")
    plot: str = option("", "draw the points and the fit into this .png (loss vs N per budget, loss vs compute)")
    report: str = option("", "write an HTML report here: the law with its intervals beside the published exponents, "
                             "the compute-optimal splits, every point against the fit, and the figure (beside it)")


def read_points(cfg: Config) -> Any:
    """The points from --points (a CSV) or --runs (run folders)."""
    import csv
    import glob

    from lmlearn.scaling.fit import Points

    if bool(cfg.points) == bool(cfg.runs):
        raise LmlearnError("lmlearn scaling fit needs --points FILE.csv or --runs FOLDERS (one of them)")
    rows = []
    if cfg.points:
        if not Path(cfg.points).is_file():
            raise LmlearnError(f"--points {cfg.points}: no such file")
        with open(cfg.points, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"params", "tokens", "loss"} - set(reader.fieldnames or [])
            if missing:
                raise LmlearnError(f"{cfg.points}:1: missing column(s) {', '.join(sorted(missing))} "
                                   "(need params, tokens, loss)")
            for line, row in enumerate(reader, start=2):
                try:
                    rows.append((float(row["params"]), float(row["tokens"]), float(row["loss"])))
                except (TypeError, ValueError):
                    raise LmlearnError(f"{cfg.points}:{line}: params, tokens and loss must be numbers") from None
    else:
        folders = [p for spec in cfg.runs.split(",") if spec for p in sorted(glob.glob(spec))]
        for folder in folders:
            summary_file = Path(folder) / "summary.json"
            if not summary_file.is_file():
                raise LmlearnError(f"--runs: {folder} holds no summary.json (not a finished run)")
            s = json.loads(summary_file.read_text())
            if s.get("eval_loss") is None:
                raise LmlearnError(f"{summary_file}: no eval_loss (run it with held-out data)")
            rows.append((s.get("non_embedding_parameters") or s["parameters"], s["tokens_seen"], s["eval_loss"]))
        if not rows:
            raise LmlearnError(f"--runs {cfg.runs}: no run folders found")
    params, tokens, loss = zip(*rows) if rows else ((), (), ())
    return Points(params, tokens, loss)


def fit(cfg: Config) -> dict[str, Any]:
    """Fit, add the compute-optimal splits, write --out."""
    from lmlearn.scaling.fit import compute_optimal, fit_law

    points = read_points(cfg)
    result = fit_law(points, cfg.form, cfg.bootstrap, cfg.level, cfg.seed)
    budgets = []
    for text in (t for t in cfg.compute.split(",") if t.strip()):
        try:
            budgets.append(float(text))
        except ValueError:
            raise LmlearnError(f"--compute {cfg.compute}: give FLOP budgets like 1e18,1e21") from None
    result["compute_optimal"] = [compute_optimal(result, c) for c in budgets]
    if cfg.out:
        from lmlearn.io import atomic_write_text

        atomic_write_text(cfg.out, json.dumps(result, indent=2) + "\n")
    png = Path(cfg.plot) if cfg.plot else Path(cfg.report).with_suffix(".png") if cfg.report else None
    if png is not None:
        from lmlearn.scaling.plot import plot_fit

        plot_fit(points, result, png)
    if cfg.report:
        import shlex
        import sys

        from lmlearn.io import atomic_write_text
        from lmlearn.scaling.report import html_report

        report = Path(cfg.report)
        if png.resolve().parent != report.resolve().parent:  # the page names its figure: keep them side by side
            import shutil

            shutil.copyfile(png, report.with_suffix(".png"))
            png = report.with_suffix(".png")
        command = shlex.join(["lmlearn", *sys.argv[1:]]) if sys.argv[1:2] == ["scaling"] else "lmlearn scaling fit"
        atomic_write_text(report, html_report(points, result, png, command))
    return result


def main(cfg: Config) -> int:
    """CLI entry: print the parameters with their intervals."""
    result = fit(cfg)
    for name in ("E", "A", "alpha", "B", "beta"):
        if name in result:
            low, high = result["intervals"].get(name, [None, None])
            interval = f" [{low:.4g}, {high:.4g}]" if low is not None else ""
            print(f"  {name:6s} {result[name]:.4g}{interval}")
    print(f"  {result['points']} points, rms log residual {result['rms_log_residual']:.4f}")
    for row in result["compute_optimal"]:
        print(f"  C = {row['compute']:.3g} FLOPs: N = {row['params']:.3g}, D = {row['tokens']:.3g}, "
              f"{row['tokens_per_param']:.1f} tokens per parameter, loss {row['loss']:.4f}")
    return 0
