"""Running a comparison's arms: the shared documents written once, each arm (and seed) an ordinary run of its
command in a folder of its own, started as a child process (its peak memory is then its own), skipped when
finished and resumed when interrupted; then each arm's per-document scores and costs, read from its files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lmlearn.compare.spec import ARM_COMMANDS, Arm, CompareSpec
from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_text


def write_documents(spec: CompareSpec, out: Path) -> dict[str, str]:
    """OUT/data/train.jsonl and test.jsonl (every test row with an `id`, so each arm's per-document lines pair up
    by it) and, for prompting arms, OUT/data/prompt_task.yaml; returns the files' sha256. Written once: a rerun
    reads what the first run wrote, so every arm of every run sees the same documents."""
    from lmlearn.data.sources import load_source

    data = out / "data"
    files = {"train": data / "train.jsonl", "test": data / "test.jsonl"}
    task = spec.task
    columns = [task.get("text_column", "text"), task.get("label_column", "label")]
    if not all(f.is_file() for f in files.values()):
        train = load_source(task["data"], required=columns).to_list()
        test = load_source(task["test_data"], required=columns).to_list()
        ids = [row.get("id") for row in test]
        if None in ids or len(set(map(str, ids))) != len(ids):  # no usable ids of its own: its position is one
            test = [{**row, "id": f"doc-{i:06d}"} for i, row in enumerate(test)]
        for name, rows in (("train", train), ("test", test)):
            atomic_write_text(files[name], "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                                                   for r in rows))
    if "prompt" in task:
        import yaml

        prompt = {"task": "compare", "test_data": str(files["test"].resolve()),
                  "fewshot_data": str(files["train"].resolve()), "output_type": "multiple_choice",
                  "doc_to_target": columns[1], "target_delimiter": " ", "fewshot_delimiter": "\n\n",
                  "metric_list": ["acc"], "fewshot_seed": 1234, **task["prompt"]}
        atomic_write_text(data / "prompt_task.yaml", yaml.safe_dump(prompt, sort_keys=False, allow_unicode=True))
        for arm in spec.arms:  # an arm's own phrasing of the same documents: its fields over the task's
            if arm.prompt:
                atomic_write_text(prompt_task(arm, out), yaml.safe_dump({**prompt, **arm.prompt}, sort_keys=False,
                                                                         allow_unicode=True))
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def arm_folder(out: Path, arm: Arm, seed: int) -> Path:
    """Where one run of an arm lives: a folder per seed for trained arms, one for a prompting arm."""
    return out / "arms" / arm.name / (f"seed-{seed}" if arm.trained else "run")


def finished(arm: Arm, folder: Path) -> bool:
    """Whether this run completed (its summary, or its evaluation, written last and atomically)."""
    return (folder / ("summary.json" if arm.trained else "eval.json")).is_file()


def settings(arm: Arm, spec: CompareSpec, out: Path, seed: int) -> Any:
    """The arm's command Config: its own settings, the task's columns, and what the comparison fixes (the
    documents, the seed, the folder), each checked against the command's settings (wrong keys name the arm)."""
    import importlib

    from lmlearn import config

    folder = arm_folder(out, arm, seed)
    data = out / "data"
    values: dict[str, Any] = {}
    own = {k: fill(v, out, spec, seed) for k, v in arm.settings.items()}
    if arm.trained:
        for key in ("text_column", "label_column", "text_pair_column"):
            if key in spec.task:
                values[key] = spec.task[key]
        values["task"] = spec.task.get("task", "classify")
        values.update(own)
        values.update(data=str(data / "train.jsonl"), eval_data=str(data / "test.jsonl"), out=str(folder),
                      seed=seed, progress=False, resume=folder.exists())
    else:
        values.update(own)
        values.update(task=str(prompt_task(arm, out)), out=str(folder / "eval.json"),
                      shots=str(arm.settings.get("shots", 0)))
    cls = importlib.import_module(ARM_COMMANDS[arm.command]).Config
    return config.resolve_items(cls, {k: (v, f"{arm.where} (arm '{arm.name}')") for k, v in values.items()})


def fill(value: Any, out: Path, spec: CompareSpec, seed: int) -> Any:
    """A setting with `{seed}` and `{run:ARM}` (that arm's run folder for this seed) filled in."""
    if not isinstance(value, str):
        return value
    arms = {a.name: a for a in spec.arms}
    value = re.sub(r"\{run:([^}]*)\}", lambda m: str(arm_folder(out, arms[m.group(1)], seed)), value)
    return value.replace("{seed}", str(seed))


def prompt_task(arm: Arm, out: Path) -> Path:
    """The evaluate task a prompting arm reads: the comparison's, or, when the arm phrases the documents its own
    way (an instruction-tuned model's chat prompt), its own file beside its run (written with the documents)."""
    return arm_folder(out, arm, 0) / "prompt_task.yaml" if arm.prompt else out / "data" / "prompt_task.yaml"


def run_arm(arm: Arm, cfg: Any, folder: Path) -> dict[str, float]:
    """Run the arm's command on `cfg` in a child process (`python -m lmlearn COMMAND --config arm.yaml`); its
    output goes to folder/log.txt. Returns its wall time and peak resident memory."""
    from lmlearn import config

    folder.mkdir(parents=True, exist_ok=True)
    config.save(cfg, folder / "arm.yaml")
    code, costs = run_child([sys.executable, "-m", "lmlearn", arm.command, "--config", str(folder / "arm.yaml")],
                            folder / "log.txt", folder / "peak_rss.json")
    if code != 0:
        lines = (folder / "log.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        raise LmlearnError(f"arm '{arm.name}' ({arm.command}) failed with exit code {code}: "
                           f"{lines[-1] if lines else 'no output'} (log: {folder / 'log.txt'})")
    return costs


def run_child(argv: list[str], log_file: Path, peak_file: Path) -> tuple[int, dict[str, Any]]:
    """Run an `lmlearn` child process, its output appended to `log_file`; returns its exit code, wall time and
    peak resident memory, which the child writes itself (lmlearn.cli: its rusage would carry this process's)."""
    from lmlearn.cli import PEAK_RSS_FILE

    peak_file.unlink(missing_ok=True)
    start = time.perf_counter()
    with open(log_file, "a", encoding="utf-8") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1", PEAK_RSS_FILE: str(peak_file)})
        _, status, _ = os.wait4(child.pid, 0)
    peak = json.loads(peak_file.read_text())["peak_rss_mb"] if peak_file.is_file() else None
    return os.waitstatus_to_exitcode(status), {"wall_sec": round(time.perf_counter() - start, 2), "peak_rss_mb": peak}


def read_run(arm: Arm, folder: Path, metric: str) -> dict[str, Any]:
    """One finished run's per-document scores (ids and values, in test order) and its costs."""
    from lmlearn.evaluation.paired import read_scores

    costs = json.loads((folder / "costs.json").read_text()) if (folder / "costs.json").is_file() else {}
    if arm.trained:
        file = folder / "predictions.jsonl"
        summary = json.loads((folder / "summary.json").read_text())
        saved = next((folder / name for name in ("adapter", "model") if (folder / name).is_dir()), None)
        parameters, trainable = summary.get("parameters") or summary.get("student_parameters"), \
            summary.get("trainable_parameters") or summary.get("student_parameters")
        tokens = summary.get("tokens_seen")
        run = {"parameters": parameters, "trainable_parameters": trainable,
               "train_sec": summary.get("wall_time_sec"), "train_tokens": tokens,
               # ~6 N D: a forward and a backward pass through every weight for each token trained on
               "train_flops": 6 * parameters * tokens if parameters and tokens else None,
               "predict_sec_per_doc": summary.get("predict_sec_per_doc"),
               "saved_bytes": sum(f.stat().st_size for f in saved.rglob("*") if f.is_file()) if saved else 0,
               "gpu_peak_mb": summary.get("gpu_peak_mb")}
    else:
        file = folder / "eval.samples.jsonl"
        report = json.loads((folder / "eval.json").read_text())
        result = next(iter(report["results"].values()))
        run = {"parameters": report.get("parameters"), "trainable_parameters": 0, "train_sec": 0.0,
               "train_tokens": 0, "train_flops": 0,
               "predict_sec_per_doc": round(result["seconds"] / max(result["n"], 1), 5) if "seconds" in result
               else None, "saved_bytes": 0}
    if not file.is_file():
        raise LmlearnError(f"{file}: missing; arm '{arm.name}' wrote no per-document lines")
    scored = read_scores([str(file)], metric)
    return {**run, **costs, "ids": scored.keys, "scores": scored.scores, "file": str(file)}
