"""Comparison: one task taken through several ways of teaching a model (prompting, fine-tuning, PEFT,
distillation, ...), every arm scored on the same test documents, against one reference arm, in one table
and one report (see docs/compare.md and src/lmlearn/compare/spec.py for the file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmlearn.config import option


@dataclass
class Config:
    """Settings of `lmlearn compare`."""

    file: str = option("", "the comparison file: task, arms, seeds, reference (see docs/compare.md)")
    out: str = option("runs/compare", "output folder: arms/, data/, comparison.json, comparison.md, report.html")
    seeds: str = option("", "comma-separated seeds for trained arms, overriding the file's (e.g. 0,1,2)")
    arms: str = option("", "run only these arms (comma-separated names; the reference always runs)")
    metric: str = option("acc", "per-document field compared (acc for classification and prompting arms)")
    iters: int = option(10000, "bootstrap resamples of each interval", range=">=100")


def run(cfg: Config) -> dict[str, Any]:
    """Run every arm that has not finished (resuming an interrupted one), then score and write the results."""
    import platform
    import shlex
    import sys
    from importlib import metadata
    from pathlib import Path

    from lmlearn.compare.arms import arm_folder, finished, read_run, run_arm, settings, write_documents
    from lmlearn.compare.report import arm_rows, html_report, markdown, plots
    from lmlearn.compare.spec import load_spec
    from lmlearn.errors import LmlearnError
    from lmlearn.io import atomic_write_json, atomic_write_text

    if not cfg.file:
        raise LmlearnError("--file is required: the comparison file (task, arms, seeds, reference)")
    spec = load_spec(cfg.file)
    if cfg.seeds:
        try:
            spec.seeds = [int(s) for s in cfg.seeds.split(",") if s.strip()]
        except ValueError:
            raise LmlearnError(f"--seeds {cfg.seeds}: give comma-separated whole numbers, e.g. 0,1,2") from None
    if cfg.arms:
        wanted = {a.strip() for a in cfg.arms.split(",") if a.strip()}
        unknown = wanted - {a.name for a in spec.arms}
        if unknown:
            raise LmlearnError(f"--arms: no arm named {', '.join(sorted(unknown))} in {cfg.file}")
        spec.arms = [a for a in spec.arms if a.name in wanted or a.name == spec.reference]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    hashes = write_documents(spec, out)
    plan = [(arm, seed) for arm in spec.arms for seed in (spec.seeds if arm.trained else spec.seeds[:1])]
    for arm, seed in plan:  # every arm's settings checked before any arm runs
        settings(arm, spec, out, seed)
    ran = []
    for arm, seed in plan:
        folder = arm_folder(out, arm, seed)
        if finished(arm, folder):
            continue
        print(f"compare: arm {arm.name}" + (f", seed {seed}" if arm.trained else ""), flush=True)
        costs = run_arm(arm, settings(arm, spec, out, seed), folder)  # settings again: resume once it has begun
        atomic_write_json(folder / "costs.json", costs)
        ran.append(f"{arm.name}/{seed}" if arm.trained else arm.name)
    runs = {arm.name: [read_run(arm, arm_folder(out, arm, seed), cfg.metric)
                       for seed in (spec.seeds if arm.trained else spec.seeds[:1])] for arm in spec.arms}
    rows = arm_rows(spec.arms, runs, spec.reference, cfg.metric, cfg.iters)
    command = "lmlearn compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["compare"] \
        else f"lmlearn compare --file {cfg.file} --out {cfg.out}"
    versions = {name: _version(metadata, name) for name in ("lmlearn", "torch", "transformers", "peft", "accelerate",
                                                            "datasets", "tokenizers")}
    meta = {"name": Path(cfg.file).stem, "config": cfg.file, "reference": spec.reference, "metric": cfg.metric,
            "seeds": spec.seeds, "documents": len(runs[spec.reference][0]["ids"]), "data_sha256": hashes,
            "versions": versions, "python": platform.python_version(), "command": command}
    images = plots(rows, spec.reference, cfg.metric, out)
    table = markdown(rows, spec.reference, cfg.metric)
    atomic_write_json(out / "comparison.json", {**meta, "arms": rows,
                                                "runs": {name: [{k: v for k, v in r.items() if k not in ("ids", "scores")}
                                                                for r in rs] for name, rs in runs.items()}})
    atomic_write_text(out / "comparison.md", table)
    atomic_write_text(out / "report.html", html_report(rows, spec.reference, cfg.metric, images, meta, table))
    return {"ran": ran, "arms": rows, "table": table, **meta, "report": str(out / "report.html")}


def _version(metadata: Any, name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
