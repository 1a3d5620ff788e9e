"""A comparison's results: per arm the metric on the shared test documents with a paired bootstrap interval
against the reference arm, its costs; written as comparison.json, comparison.md and report.html with plots."""

from __future__ import annotations

import html
import statistics
from pathlib import Path
from typing import Any

from lmlearn.errors import LmlearnError
from lmlearn.fonts import CSS_FONTS


def pool(a: list[list[float]], b: list[list[float]]) -> tuple[list[float], list[float]]:
    """Two arms' runs as paired (seed, document) lists: seed k against seed k; a run that does not depend on a
    seed (a prompting arm) stands against every seed of the other arm."""
    if len(a) == 1 and len(b) > 1:
        a = a * len(b)
    if len(b) == 1 and len(a) > 1:
        b = b * len(a)
    if len(a) != len(b):
        raise LmlearnError(f"arms with {len(a)} and {len(b)} seeds cannot be paired; give both the same seeds")
    return [s for run in a for s in run], [s for run in b for s in run]


def arm_rows(arms: list[Any], runs: dict[str, list[dict[str, Any]]], reference: str, metric: str,
             iters: int = 10000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per arm: mean metric over its runs, b - reference with its paired interval, and median costs."""
    from lmlearn.evaluation.paired import paired_bootstrap

    ref = runs[reference]
    rows = []
    for arm in arms:
        mine = runs[arm.name]
        for run in mine:  # every run scored the reference's documents, in the same order
            if run["ids"] != ref[0]["ids"]:
                raise LmlearnError(f"arm '{arm.name}' ({run['file']}) scored other documents than the reference "
                                   f"'{reference}' ({ref[0]['file']})")
        a, b = pool([r["scores"] for r in ref], [r["scores"] for r in mine])
        stats = paired_bootstrap(a, b, iters, seed) if arm.name != reference else None

        def median(key: str) -> Any:
            values = [r[key] for r in mine if r.get(key) is not None]
            return statistics.median(values) if values else None

        rows.append({
            "arm": arm.name, "command": arm.command, "runs": len(mine), metric: sum(b) / len(b),
            "per_seed": [sum(r["scores"]) / len(r["scores"]) for r in mine],
            "difference": stats["difference"] if stats else 0.0, "low": stats["low"] if stats else None,
            "high": stats["high"] if stats else None, "pairs": len(b), "documents": len(mine[0]["ids"]),
            **{key: median(key) for key in ("parameters", "trainable_parameters", "train_sec", "train_tokens",
                                            "train_flops", "predict_sec_per_doc", "saved_bytes", "wall_sec",
                                            "peak_rss_mb", "gpu_peak_mb")},
        })
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.3g}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:.3g}"
    return str(value)


def markdown(rows: list[dict[str, Any]], reference: str, metric: str) -> str:
    """The table: metric, difference against the reference [95% interval], and the costs."""
    gpu = any(r.get("gpu_peak_mb") is not None for r in rows)  # a column only where some arm ran on a GPU
    head = (f"| arm | runs | {metric} | − {reference} [95%] | trainable params | total params | train s | "
            "train FLOPs (≈6ND) | infer ms/doc | saved MB | run s | peak RSS MB |" + (" GPU peak MB |" if gpu else "")
            + "\n|" + "---|" * (13 if gpu else 12) + "\n")
    lines = []
    for r in rows:
        diff = "reference" if r["arm"] == reference else f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
        ms = None if r["predict_sec_per_doc"] is None else 1000 * r["predict_sec_per_doc"]
        mb = None if r["saved_bytes"] is None else r["saved_bytes"] / 2**20
        lines.append(f"| {r['arm']} | {r['runs']} | {_fmt(r[metric])} | {diff} | {_fmt(r['trainable_parameters'])} | "
                     f"{_fmt(r['parameters'])} | {_fmt(r['train_sec'], 1)} | {_fmt(r['train_flops'])} | {_fmt(ms, 2)} | "
                     f"{_fmt(mb, 2)} | {_fmt(r['wall_sec'], 1)} | {_fmt(r['peak_rss_mb'], 0)} |"
                     + (f" {_fmt(r.get('gpu_peak_mb'), 0)} |" if gpu else ""))
    return head + "\n".join(lines) + "\n"


def plots(rows: list[dict[str, Any]], reference: str, metric: str, folder: Path) -> list[Path]:
    """Metric against trainable parameters and against training compute (log axes; arms that train nothing
    stand at the left edge), and a forest plot of each arm's difference from the reference."""
    from lmlearn.tour.plots import figure

    made = []
    for key, label, png in (("trainable_parameters", "trainable parameters", "metric_vs_parameters.png"),
                            ("train_flops", "training compute (FLOPs, ≈6ND)", "metric_vs_compute.png")):
        positive = [r[key] for r in rows if r[key]]
        floor = min(positive) / 10 if positive else 1.0
        with figure(folder / png, f"{label} (log; 0 drawn at the left)", metric, f"{metric} against {label}") as ax:
            for r in rows:
                x = r[key] or floor
                ax.scatter([x], [r[metric]], marker="o" if r[key] else "s")
                ax.annotate(r["arm"], (x, r[metric]), textcoords="offset points", xytext=(4, 3), fontsize=8)
            ax.set_xscale("log")
        made.append(folder / png)
    others = [r for r in rows if r["arm"] != reference]
    with figure(folder / "differences.png", f"{metric} − {reference} (95% paired bootstrap interval)", "",
                f"Each arm against {reference}") as ax:
        for i, r in enumerate(others):
            ax.errorbar([r["difference"]], [i], xerr=[[r["difference"] - r["low"]], [r["high"] - r["difference"]]],
                        fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        ax.set_yticks(range(len(others)))
        ax.set_yticklabels([r["arm"] for r in others])
    made.append(folder / "differences.png")
    return made


def html_report(rows: list[dict[str, Any]], reference: str, metric: str, images: list[Path], meta: dict[str, Any],
                table_md: str) -> str:
    """A self-contained page: the table, the three plots (beside it), and what was compared on what."""
    head = ["arm", "runs", metric, f"− {reference} [95%]", "trainable", "total", "train s", "infer ms/doc"]
    body = []
    for r in rows:
        diff = "reference" if r["arm"] == reference else f"{r['difference']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
        ms = None if r["predict_sec_per_doc"] is None else 1000 * r["predict_sec_per_doc"]
        cells = [r["arm"], r["runs"], _fmt(r[metric]), diff, _fmt(r["trainable_parameters"]), _fmt(r["parameters"]),
                 _fmt(r["train_sec"], 1), _fmt(ms, 2)]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    imgs = "".join(f'<img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">' for p in images)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lmlearn compare</title>"
            "<style>body{font-family:" + CSS_FONTS + ";margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:right}img{max-width:48%;margin:4px}</style></head><body>"
            f"<h1>{html.escape(meta['name'])}</h1><p>{meta['documents']} test documents, every arm scored on the same "
            f"ones; differences against <b>{html.escape(reference)}</b> with 95% paired bootstrap intervals over "
            f"(seed, document) pairs. Seeds: {html.escape(str(meta['seeds']))}.</p>"
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(body) + "</table>"
            f"<div>{imgs}</div><p>Command: <code>{html.escape(meta['command'])}</code></p></body></html>\n")
