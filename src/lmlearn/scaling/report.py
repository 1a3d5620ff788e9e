"""The scaling report: one HTML page with the fitted law, its intervals next to the published exponents,
the compute-optimal splits, every measured point with the fit's prediction, and the figure."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from lmlearn.fonts import CSS_FONTS

# What the papers fitted on their own runs (Kaplan et al. 2020, Table 5 / eq. 1.1-1.2; Hoffmann et al.
# 2022, approach 3), for a reader to place this fit beside.
PUBLISHED = {"alpha": "Kaplan α_N 0.076; Chinchilla α 0.34", "beta": "Kaplan α_D 0.095; Chinchilla β 0.28",
             "E": "Chinchilla 1.69", "A": "Chinchilla 406.4", "B": "Chinchilla 410.7"}


def html_report(points: Any, law: dict[str, Any], png: Path, command: str) -> str:
    """A self-contained page (the figure sits beside it, referenced by name)."""
    from lmlearn.scaling.fit import predict

    level = int(round(100 * law["level"]))
    rows = []
    for name in ("E", "A", "alpha", "B", "beta"):
        if name in law:
            low, high = law["intervals"].get(name, [None, None])
            interval = f"[{low:.4g}, {high:.4g}]" if low is not None else "(no bootstrap)"
            rows.append([name, f"{law[name]:.4g}", interval, PUBLISHED.get(name, "")])
    optimal = [[f"{r['compute']:.3g}", f"{r['params']:.3g}", f"{r['tokens']:.3g}", f"{r['tokens_per_param']:.1f}",
                f"{r['loss']:.4f}"] for r in law.get("compute_optimal", [])]
    n, d, loss = (np.asarray(x, dtype=np.float64) for x in (points.params, points.tokens, points.loss))
    fitted = predict(law, n, d)
    measured = [[f"{int(a):,}", f"{int(b):,}", f"{c:.4f}", f"{p:.4f}", f"{c - p:+.4f}"]
                for a, b, c, p in sorted(zip(n, d, loss, fitted))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lmlearn scaling fit</title>"
            "<style>body{font-family:" + CSS_FONTS + ";max-width:1000px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
            "text-align:right}img{max-width:100%}</style></head><body>"
            f"<h1>Scaling law, form {html.escape(law['form'])}</h1>"
            "<p>L(N, D) = E + A / N<sup>α</sup> + B / D<sup>β</sup> (the terms of the form fitted), fitted by "
            "Huber loss on log residuals from a grid of starts (Chinchilla's approach 3); "
            f"{level}% percentile bootstrap intervals over {law['bootstrap']} resamples of the {law['points']} points; "
            f"rms log residual {law['rms_log_residual']:.4f}.</p>"
            + _table(["parameter", "fit", f"{level}% interval", "published"], rows)
            + (("<h2>Compute-optimal split (C = 6ND)</h2>"
                + _table(["C (FLOPs)", "N", "D", "tokens per parameter", "predicted loss"], optimal)) if optimal else "")
            + f'<img src="{html.escape(png.name)}" alt="loss against size and compute">'
            + "<h2>Points</h2>" + _table(["N", "D", "loss", "fit", "residual"], measured)
            + f"<p>Command: <code>{html.escape(command)}</code></p></body></html>\n")


def _table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")
