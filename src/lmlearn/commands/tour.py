"""`lmlearn tour`: every learning framework lmlearn has, on built-in data, in one report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from lmlearn.config import option


@dataclass
class Config:
    """Settings of `lmlearn tour`."""

    out: str = option("runs/tour", "output folder (report.html goes here)")
    steps: int = option(600, "training steps per stage (smaller is quicker and rougher)", range=">=1")
    seed: int = option(0, "seed for every stage")
    progress: bool = option(True, "show progress bars")


def main(cfg: Config) -> int:
    """Run each stage, then print the table and write report.html."""
    from lmlearn.io import atomic_write_json
    from lmlearn.tour import STAGES, StageResult, TourContext, load_stage
    from lmlearn.tour.report import table_text, write_html
    from lmlearn.tour.summary import html_table

    start = time.perf_counter()
    ctx = TourContext(out=Path(cfg.out), steps=cfg.steps, seed=cfg.seed, progress=cfg.progress)
    ctx.out.mkdir(parents=True, exist_ok=True)
    results = []
    for spec in STAGES:
        result = load_stage(spec)(ctx)
        ctx.results[result.name] = result
        results.append(result)
    comparisons = [row for result in results for row in result.comparisons]
    atomic_write_json(ctx.out / "summary.json", {"comparisons": comparisons, "steps": cfg.steps, "seed": cfg.seed})
    results.append(StageResult(name="summary", title="Paired comparisons (runs/tour/summary.json)", rows=[],
                               html=html_table(comparisons)))
    report = write_html(results, ctx.out / "report.html", time.perf_counter() - start)
    print(table_text(results))
    print(f"report: {report}")
    return 0
