"""FLAN-style instruction data: tasks mixed through templates, a cluster held out for zero-shot evaluation."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lmlearn import config
from lmlearn.config import option, suggest
from lmlearn.errors import LmlearnError

Mode = Literal["instruction", "task-name", "none"]


@dataclass
class Config:
    """Settings of `lmlearn flan build`."""

    out: str = option("runs/flan", "output folder: train.jsonl, eval/ (harness tasks) and manifest.json")
    tasks: str = option("all", "comma-separated task names (shipped template files) or paths to template .yaml "
                               "files; all: every shipped task whose data is here")
    clusters: str = option("", "comma-separated clusters to train on (default: every cluster but the held-out one)")
    hold_out_cluster: str | None = option(None, "leave this cluster out of training and write its tasks to eval/ "
                                                "for zero-shot evaluation (without it, eval/ tests the trained tasks)")
    num_clusters: int = option(0, "train on K of the clusters, taken in one seeded order (0: all)", range=">=0")
    max_per_task: int = option(1000, "training examples per task at most (examples-proportional mixing with a cap)",
                               range=">=1")
    eval_size: int = option(200, "test inputs split off each task, never trained on", range=">=0")
    templates: Mode = option("instruction", "how training inputs are phrased: a template of the task, the task "
                                            "name before the input, or the input alone (FLAN's ablation)")
    eval_templates: Mode = option("instruction", "how evaluation prompts are phrased (same choices)")
    template: Literal["chatml", "alpaca", "koalpaca"] = option(
        "chatml", "chat template of the evaluation prompts; instruction-tune with the same one")
    tokenizer: str | None = option(None, "tokenizer (or model) folder of the model to be tuned: evaluation "
                                         "prompts then start with its bos token, as instruction tuning renders them")
    seed: int = option(0, "seeds the test split, the cluster order, the cap's sample and the template draws")
    data_dir: str = option("", "the folder shipped templates read their data: paths from (default: $LMLEARN_DATA, "
                               "else ../shared/data)")
    overwrite: bool = option(False, "replace an earlier build in --out")


def select_specs(tasks: str) -> tuple[list[Any], dict[str, str]]:
    """The checked template files named by --tasks, and the shipped ones left out for want of data."""
    from lmlearn.flan.rows import data_present
    from lmlearn.flan.spec import load_spec, shipped_files

    shipped = shipped_files()
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise LmlearnError("--tasks is empty; give task names, template files, or all")
    paths = []
    for name in (list(shipped) if names == ["all"] else names):
        if name.endswith((".yaml", ".yml")) or os.sep in name:
            paths.append(Path(name))
        elif name in shipped:
            paths.append(shipped[name])
        else:
            raise LmlearnError(f"--tasks {name}: no such task{suggest(name, list(shipped))}, or give a .yaml path")
    specs = [load_spec(p) for p in paths]  # every file is checked before any data is read
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.task in seen:
            raise LmlearnError(f"{spec.where('task')}: task '{spec.task}' is also defined in {seen[spec.task]}")
        seen[spec.task] = spec.path
    left_out = {}
    for spec in specs:
        if not data_present(spec):
            if names != ["all"]:
                raise LmlearnError(f"{spec.where('data')}: data {spec.data} not found (run from the project root, "
                                   "or leave the task out of --tasks)")
            left_out[spec.task] = f"data {spec.data} not found"
    return [s for s in specs if s.task not in left_out], left_out


def command_line(cfg: Config) -> str:
    """The command that rebuilds this output: every setting that differs from its default."""
    parts = ["lmlearn", "flan", "build"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value != f.default or f.name == "out":
            flag = "--" + f.name.replace("_", "-")
            parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def _check(cfg: Config) -> None:
    if not cfg.out:
        raise LmlearnError("--out is required: the folder to write")
    if cfg.max_per_task < 1:
        raise LmlearnError(f"--max-per-task {cfg.max_per_task}: must be at least 1")
    if cfg.eval_size < 0:
        raise LmlearnError(f"--eval-size {cfg.eval_size}: must not be negative")
    out = Path(cfg.out)
    if (out / "manifest.json").exists():
        if not cfg.overwrite:
            raise LmlearnError(f"{cfg.out} already holds a build (manifest.json); pass --overwrite to replace it")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        # the whole folder is swapped for the new one, so it must not hold anything else
        raise LmlearnError(f"--out {cfg.out}: exists and is not an earlier build; give a new or empty folder")


def _tokenizer(path: str | None) -> Any:
    if path is None:
        return None
    from lmlearn.models.factory import load_tokenizer

    tokenizer = load_tokenizer(path) if Path(path).is_dir() else None
    if tokenizer is None:
        raise LmlearnError(f"--tokenizer {path}: no folder with a saved tokenizer there")
    return tokenizer


def build(cfg: Config) -> dict[str, Any]:
    """Check every template file, split and mix the tasks, write the output folder atomically; returns the manifest."""
    from lmlearn.flan.evalset import write_eval
    from lmlearn.flan.mixture import mix, split_task, training_clusters
    from lmlearn.flan.rows import load_examples
    from lmlearn.data.locations import set_data_dir
    from lmlearn.io import atomic_write_dir, atomic_write_json, atomic_write_text

    set_data_dir(cfg.data_dir)
    _check(cfg)
    tokenizer = _tokenizer(cfg.tokenizer)
    specs, left_out = select_specs(cfg.tasks)
    available = sorted({s.cluster for s in specs})
    wanted = [c.strip() for c in cfg.clusters.split(",") if c.strip()]
    clusters = training_clusters(available, cfg.hold_out_cluster, wanted, cfg.num_clusters, cfg.seed)
    eval_clusters = [cfg.hold_out_cluster] if cfg.hold_out_cluster else clusters
    used = [s for s in specs if s.cluster in clusters or s.cluster in eval_clusters]
    splits = [split_task(s, load_examples(s), cfg.eval_size, cfg.seed) for s in used]
    mixture = mix(splits, clusters, cfg.max_per_task, cfg.templates, cfg.seed)
    manifest: dict[str, Any] = {
        "command": command_line(cfg), "template": cfg.template, "held_out_cluster": cfg.hold_out_cluster,
        "training_clusters": sorted(clusters), "eval_clusters": eval_clusters,
        "eval_kind": "held-out" if cfg.hold_out_cluster else "seen", "train_rows": len(mixture.rows),
        "counts": mixture.counts,
        "tasks": {sp.spec.task: {"cluster": sp.spec.cluster, "file": str(sp.spec.path), "data": sp.spec.data,
                                 "train_pool": len(sp.train), "train": mixture.counts.get(sp.spec.task, 0),
                                 "test": len(sp.test), "unfitted": mixture.unfitted.get(sp.spec.task, 0)}
                  for sp in splits},
        "left_out": left_out, "settings": config.to_dict(cfg),
    }
    why = "held out of training" if cfg.hold_out_cluster else "a trained task, on inputs split off before training"

    def fill(tmp: Path) -> None:
        evaluated = [sp for sp in splits if sp.spec.cluster in eval_clusters and sp.test]
        manifest["eval"] = write_eval(tmp / "eval", evaluated, cfg.eval_templates, cfg.template, cfg.seed, why,
                                     tokenizer)
        atomic_write_text(tmp / "train.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in mixture.rows))
        atomic_write_json(tmp / "manifest.json", manifest)

    atomic_write_dir(cfg.out, fill)
    return manifest
