"""The tour's comparisons as rows of runs/tour/summary.json: each a stage's defining comparison,
arm b against arm a on the same test documents, with a paired 95% bootstrap interval."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from lmlearn.evaluation.paired import paired_bootstrap, read_scores


def paired_row(stage: str, arm_a: str, arm_b: str, metric: str, a: list[float], b: list[float], seed: int,
               **extra: Any) -> dict[str, Any]:
    """One comparison: the two means, b - a, and its interval (documents resampled together)."""
    result = paired_bootstrap(a, b, iters=2000, seed=seed)
    return {"stage": stage, "arm_a": arm_a, "arm_b": arm_b, "metric": metric, "a": result["a"], "b": result["b"],
            "difference": result["difference"], "interval_low": result["low"], "interval_high": result["high"],
            "documents": result["n"], "seeds": [seed], **extra}


def predictions_row(stage: str, arm_a: str, arm_b: str, run_a: Path, run_b: Path, seed: int,
                    **extra: Any) -> dict[str, Any]:
    """A comparison of two `finetune` runs' test predictions (accuracy per document)."""
    return pooled_predictions_row(stage, arm_a, arm_b, [run_a], [run_b], [seed], **extra)


def pooled_predictions_row(stage: str, arm_a: str, arm_b: str, runs_a: list[Path], runs_b: list[Path],
                           seeds: list[int], **extra: Any) -> dict[str, Any]:
    """Two arms over several seeds: run k of a is paired with run k of b (same seed, same test documents),
    and the (seed, document) pairs are resampled together."""
    a, b = [], []
    for run_a, run_b in zip(runs_a, runs_b, strict=True):
        a += read_scores([str(run_a / "predictions.jsonl")], "acc").scores
        b += read_scores([str(run_b / "predictions.jsonl")], "acc").scores
    row = paired_row(stage, arm_a, arm_b, "test accuracy", a, b, seeds[0], **extra)
    return {**row, "documents": row["documents"] // len(runs_a), "seeds": seeds}


def html_table(rows: list[dict[str, Any]]) -> str:
    """The comparisons as an HTML table for the report."""
    body = "".join(
        f"<tr><td>{html.escape(r['stage'])}</td><td>{html.escape(r['arm_b'])} vs {html.escape(r['arm_a'])}</td>"
        f"<td>{html.escape(r['metric'])}</td><td>{r['a']:.3f}</td><td>{r['b']:.3f}</td>"
        f"<td>{r['difference']:+.3f}</td><td>[{r['interval_low']:+.3f}, {r['interval_high']:+.3f}]</td></tr>"
        for r in rows)
    return ("<p>Each stage's defining comparison on the same test documents: b − a with a paired 95% bootstrap "
            "interval (over the seeds listed in summary.json, documents and seeds resampled together; an interval "
            "that holds zero is no difference at this size).</p>"
            "<table><tr><th>stage</th><th>b vs a</th><th>metric</th><th>a</th><th>b</th><th>b − a</th>"
            f"<th>95% interval</th></tr>{body}</table>")
