"""Evaluation: score a model on a YAML task (zero- and few-shot), the way lm-eval scores it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlearn import config
from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Config:
    """Settings of `lmlearn evaluate`."""

    model: str = option("runs/pretrain", "model folder, or a run folder holding model/")
    adapter: str | None = option(None, "a PEFT adapter folder to apply on top of --model")
    task: str = option("review_sentiment", "a shipped task name or a path to a task .yaml file")
    shots: str = option("0", "comma-separated few-shot counts, e.g. 0,1,5")
    limit: int = option(0, "evaluate only the first N test documents (0: all)", range=">=0")
    batch_size: int = option(8, "rows per forward pass", range=">=1")
    out: str = option("", "write metrics to this .json file (and the examples to .samples.jsonl beside it)")
    seed: int = option(0, "seed of the bootstrap resampling and of self-consistency sampling")
    data_dir: str = option("", "the folder shipped tasks read their data: paths from (default: $LMLEARN_DATA, "
                               "else ../shared/data)")
    bootstrap_iters: int = option(1000, "resamples for each metric's standard error", range=">=0")
    device: str = option("cpu", "torch device")
    num_samples: int | None = option(None, "chain-of-thought tasks: reasoning paths per question, majority-voted "
                                           "(self-consistency; default: the task's cot.num_samples, else 1 greedy)",
                                           range=">=1")
    temperature: float | None = option(None, "self-consistency sampling temperature (default: the task's, 0.7)")
    top_p: float | None = option(None, "self-consistency nucleus top-p (default: the task's, 1.0)", range="(0, 1]")


def parse_shots(text: str) -> list[int]:
    """'0,1,5' -> [0, 1, 5]."""
    try:
        shots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise LmlearnError(f"--shots {text}: give comma-separated whole numbers, e.g. 0,1,5") from None
    if not shots or any(s < 0 for s in shots):
        raise LmlearnError(f"--shots {text}: give comma-separated whole numbers >= 0, e.g. 0,1,5")
    return shots


def samples_path(out: str) -> Path:
    """FILE.json -> FILE.samples.jsonl."""
    path = Path(out)
    return path.with_name((path.stem if path.suffix == ".json" else path.name) + ".samples.jsonl")


def run(cfg: Config) -> dict[str, Any]:
    """Evaluate and write the outputs; returns the results dict."""
    import json
    import time

    from lmlearn.models.spec import resolve_model_dir
    from lmlearn.evaluation import harness, lm
    from lmlearn.evaluation.task import load_task
    from lmlearn.engine.flops import gpu_peak_mb
    from lmlearn.io import atomic_write_json, atomic_write_text

    from lmlearn.data.locations import set_data_dir

    set_data_dir(cfg.data_dir)
    shots = parse_shots(cfg.shots)
    if cfg.batch_size < 1:
        raise LmlearnError(f"--batch-size {cfg.batch_size}: must be at least 1")
    if cfg.num_samples is not None and cfg.num_samples < 1:
        raise LmlearnError(f"--num-samples {cfg.num_samples}: must be at least 1")
    if cfg.temperature is not None and cfg.temperature <= 0:
        raise LmlearnError(f"--temperature {cfg.temperature}: must be > 0 (sampling); use --num-samples 1 for greedy")
    if cfg.top_p is not None and not 0 < cfg.top_p <= 1:
        raise LmlearnError(f"--top-p {cfg.top_p}: must be in (0, 1]")
    folder = resolve_model_dir(cfg.model)
    task = load_task(cfg.task)  # every check of the task file happens here, before the model loads
    model = lm.load_model(str(folder), cfg.device, adapter=cfg.adapter)
    results: dict[str, Any] = {}
    samples: list[dict] = []
    for k in shots:
        start = time.perf_counter()
        results[str(k)], rows = harness.evaluate(task, model, k, limit=cfg.limit or None, batch_size=cfg.batch_size,
                                                 seed=cfg.seed, bootstrap_iters=cfg.bootstrap_iters,
                                                 num_samples=cfg.num_samples, temperature=cfg.temperature,
                                                 top_p=cfg.top_p)
        results[str(k)]["seconds"] = round(time.perf_counter() - start, 3)  # scoring alone, the model loaded
        samples += rows
    report = {"task": task.name, "task_file": task.path, "task_config": task.resolved(),
              "model": str(folder), "adapter": cfg.adapter,
              "parameters": sum(p.numel() for p in model.model.parameters()),
              "results": results, "settings": config.to_dict(cfg)}
    if (peak := gpu_peak_mb()) is not None:
        report["gpu_peak_mb"] = peak
    if cfg.out:
        atomic_write_json(cfg.out, report)
        atomic_write_text(samples_path(cfg.out), "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
    return report
