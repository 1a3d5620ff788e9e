"""Multi-task text-to-text mixtures (`lmlearn finetune --task seq2seq --mixture FILE.yaml`): one
encoder-decoder trained on several tasks at once, each marked by its prefix, as T5 trains on
translation, summarization and GLUE together (Raffel et al. 2020, §3.5.2).

A mixture file is a YAML list of tasks:

    - name: sentiment                  # required: names the task in predictions.jsonl and the summary
      data: ratings_train.txt          # required: any lmlearn source; a relative path is tried beside this file first
      eval_data: ratings_test.txt      # default: a seeded split of data (--eval-fraction, --seed)
      prefix: "nsmc sentiment: "       # put before every source (default: none)
      source_column: document          # default: --source-column
      target_column: label             # default: --target-column
      target_map: {0: negative, 1: positive}   # class labels written as words (default: the target as it is)
      max_examples: 20000              # cap on the task's size in the mixture, T5's K (default: no cap)
      weight: 1.0                      # multiplies the task's share of the mixture (default: 1)
      metrics: accuracy                # as --seq2seq-metrics (default: accuracy with a target_map, else the flag)
    - name: summary
      data: news.jsonl
      prefix: "summarize: "

Mixing is examples-proportional with a cap (T5's choice, §3.5.2): a task contributes
round(weight × min(n, max_examples)) training examples, a seeded sample of its rows (repeated only
when that exceeds n), so one huge task cannot drown the small ones. The test rows are every task's,
uncapped. Each row keeps its task's name in a `task` column; its `source` already carries the prefix.
"""

from __future__ import annotations

import math
import os
import typing
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lmlearn.config import check_value, parse_yaml, suggest
from lmlearn.data.sources import WHERE, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.tasks.base import check_text


@dataclass
class MixtureTask:
    """One task of a mixture file (the YAML keys), and where it stands in the file."""

    name: str
    data: str
    eval_data: str | None = None
    prefix: str = ""
    source_column: str = "source"
    target_column: str = "target"
    target_map: dict | None = None
    max_examples: int | None = None
    weight: float = 1.0
    metrics: str | None = None
    path: str = ""
    lines: dict[str, int] = field(default_factory=dict)  # key -> line; "-" is the task's first line

    def at(self, key: str) -> str:
        """'file:line' of `key` in the mixture file (the task's first line when the key is absent)."""
        return f"{self.path}:{self.lines.get(key, self.lines['-'])}"


KEYS = [f.name for f in fields(MixtureTask) if f.name not in ("path", "lines")]


def load_mixture(path: str, cfg: Any) -> list[MixtureTask]:
    """Read and check a mixture file (keys, types, values), without reading its data."""
    if not os.path.isfile(path):
        raise LmlearnError(f"--mixture {path}: file not found")
    data, root = parse_yaml(path)
    if not isinstance(root, yaml.SequenceNode) or not data:
        raise LmlearnError(f"{path}: a mixture file is a non-empty list of tasks (- name: ..., data: ...)")
    tasks = [_task(path, item, node, cfg) for item, node in zip(data, root.value)]
    seen: set[str] = set()
    for task in tasks:
        if task.name in seen:
            raise LmlearnError(f"{task.at('name')}: task name '{task.name}' is used twice; give each task its own")
        seen.add(task.name)
    return tasks


def _task(path: str, item: Any, node: yaml.Node, cfg: Any) -> MixtureTask:
    first = node.start_mark.line + 1
    if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
        raise LmlearnError(f"{path}:{first}: a task is a mapping (name: ..., data: ...), got {item!r}")
    lines = {"-": first, **{str(k.value): k.start_mark.line + 1 for k, _ in node.value}}
    hints = typing.get_type_hints(MixtureTask)
    values: dict[str, Any] = {"source_column": cfg.source_column, "target_column": cfg.target_column}
    for key, value in item.items():
        where = f"{path}:{lines.get(str(key), first)}"
        if key not in KEYS:
            raise LmlearnError(f"{where}: unknown key '{key}'{suggest(str(key), KEYS)}")
        values[key] = _check_map(value, where) if key == "target_map" else check_value(key, value, hints[key], where)
    for key in ("name", "data"):
        if values.get(key) is None:
            raise LmlearnError(f"{path}:{first}: the task has no '{key}' (every task needs name and data)")
    task = MixtureTask(**values, path=path, lines=lines)
    if "/" in task.name or not task.name.strip():
        raise LmlearnError(f"{task.at('name')}: task name '{task.name}' must be non-empty and free of '/' "
                           "(it prefixes the task's scores, as in sentiment/accuracy)")
    if task.max_examples is not None and task.max_examples < 1:
        raise LmlearnError(f"{task.at('max_examples')}: max_examples must be at least 1, got {task.max_examples}")
    if task.weight <= 0:
        raise LmlearnError(f"{task.at('weight')}: weight must be above 0, got {task.weight}")
    return task


def _check_map(value: Any, where: str) -> dict[str, str]:
    """target_map as {label: word}, both as text (a TSV gives "0" where JSON gives 0)."""
    if not isinstance(value, dict) or not value:
        raise LmlearnError(f"{where}: 'target_map' must be a mapping of label: text, such as "
                           f"{{0: negative, 1: positive}}, got {value!r}")
    for label, text in value.items():
        if not isinstance(text, (str, int, float)) or not str(text).strip():
            raise LmlearnError(f"{where}: target_map gives label {label!r} the text {text!r}; give it a word")
    return {str(label): str(text) for label, text in value.items()}


def read_mixture(tasks: list[MixtureTask], cfg: Any, report: ReadReport) -> tuple[Any, Any]:
    """The mixed training rows and every task's test rows, with columns task, source, target, _where."""
    import datasets

    train_parts, test_parts = [], []
    for task in tasks:
        train = _rows(task, "data", cfg, report)
        if task.eval_data:
            test = _rows(task, "eval_data", cfg, report)
        elif len(train) < 2:
            raise LmlearnError(f"{task.at('data')}: task '{task.name}' has {len(train)} row, too few to hold "
                               "some out; give it more rows or an eval_data")
        else:
            parts = train.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
            train, test = parts["train"], parts["test"]
        train_parts.append(_sample(train, task, cfg.seed))
        test_parts.append(test)
    return datasets.concatenate_datasets(train_parts), datasets.concatenate_datasets(test_parts)


def _resolve(spec: str, mixture_file: str) -> str:
    """A relative path is tried beside the mixture file first, then from the working folder."""
    if spec.startswith("builtin:") or os.path.isabs(spec):
        return spec
    beside = Path(mixture_file).parent / spec
    return str(beside) if beside.exists() else spec


def _rows(task: MixtureTask, key: str, cfg: Any, report: ReadReport) -> Any:
    """One source of a task, as rows of (task, prefixed source, target text, _where)."""
    import datasets

    from lmlearn.data.sources import load_source

    columns = [task.source_column, task.target_column]
    try:
        ds = load_source(_resolve(getattr(task, key), task.path), required=columns, txt_unit=cfg.txt_unit,
                         on_bad_rows=cfg.on_bad_rows, report=report, locate=True)
    except LmlearnError as e:
        raise LmlearnError(f"{task.at(key)}: task '{task.name}': {e}") from None
    if len(ds) == 0:
        raise LmlearnError(f"{task.at(key)}: task '{task.name}' has no rows in {key} "
                           f"(are {', '.join(columns)} its columns?)")
    sources, targets = [], []
    for source, target, where in zip(ds[task.source_column], ds[task.target_column], ds[WHERE]):
        sources.append(task.prefix + check_text(_as_text(source), {WHERE: where}, task.source_column, key))
        targets.append(_target(task, target, where))
    return datasets.Dataset.from_dict({"task": [task.name] * len(ds), "source": sources, "target": targets,
                                       WHERE: list(ds[WHERE])})


def _as_text(value: Any) -> Any:
    """Numbers as text (a label column of ints is a fine target); anything else as it is."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _target(task: MixtureTask, value: Any, where: str) -> str:
    if task.target_map is None:
        return check_text(_as_text(value), {WHERE: where}, task.target_column, "data")
    label = str(_as_text(value))
    if label not in task.target_map:
        raise LmlearnError(f"{where}: {task.target_column} '{label}' is not in the target_map of task "
                           f"'{task.name}' ({task.at('target_map')}); add it there")
    return task.target_map[label]


def _sample(ds: Any, task: MixtureTask, seed: int) -> Any:
    """round(weight × min(n, cap)) rows, a seeded sample that repeats rows only when it must."""
    n = len(ds)
    count = max(1, round(task.weight * min(n, task.max_examples or n)))
    # Seeded by the task's name as well, so reordering the file does not change a task's sample.
    rng = np.random.default_rng([seed, zlib.crc32(task.name.encode())])
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(count / n))])
    return ds.select(order[:count].tolist())
