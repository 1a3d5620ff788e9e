"""The tour's outputs: a summary table on stdout and a self-contained report.html."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from lmlearn.fonts import CSS_FONTS
from lmlearn.io import atomic_write_text
from lmlearn.tour import StageResult

COLUMNS = ["stage", "framework", "model", "metric", "before", "after", "wall_time_sec"]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


def table_text(results: list[StageResult]) -> str:
    """A plain-text table with one row per compared framework."""
    rows = [[_fmt(r.get(c)) for c in COLUMNS] for res in results for r in res.rows]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(COLUMNS), line(["-" * w for w in widths])] + [line(r) for r in rows])


def write_html(results: list[StageResult], path: Path, elapsed: float) -> Path:
    """Write report.html with the table, each stage's notes and its plots embedded."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in COLUMNS) + "</tr>"
                   for res in results for r in res.rows)
    sections = []
    for res in results:
        imgs = "".join(f'<img alt="{html.escape(p.name)}" src="data:image/png;base64,'
                       f'{base64.b64encode(p.read_bytes()).decode()}">' for p in res.plots)
        sections.append(f"<h2>{html.escape(res.title)}</h2>{res.html}{imgs}")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lmlearn tour</title>
<style>body{{font-family:{CSS_FONTS};max-width:960px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
img{{max-width:100%}}</style></head><body><h1>lmlearn: the learning-frameworks tour</h1>
<p>Everything below was trained on this machine on built-in data in {elapsed:.0f} s.</p>
<table><tr>{head}</tr>{body}</table>{''.join(sections)}</body></html>"""
    atomic_write_text(path, page)
    return path
