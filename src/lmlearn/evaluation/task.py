"""Task files: YAML in lm-evaluation-harness's shape, read and checked completely before any model loads.

A task names its data (an lmlearn source: `builtin:...`, a local file), how a document becomes a
prompt (`doc_to_text`), its answer (`doc_to_target`) and, for multiple choice, the choices
(`doc_to_choice`). Each of these is a column name or a Jinja2 template, as in lm-eval.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmlearn.errors import LmlearnError
from lmlearn.evaluation.cot import CotConfig, parse_cot

TASKS_DIR = Path(__file__).parent / "tasks"
OUTPUT_TYPES = ("multiple_choice", "generate_until", "loglikelihood_rolling")
METRICS = {
    "multiple_choice": ("acc", "acc_norm", "acc_mutual_info"),
    "generate_until": ("exact_match", "f1", "rouge"),
    "loglikelihood_rolling": ("perplexity", "bits_per_byte"),
}
# acc_mutual_info costs a second pass per distinct choice list, so a task asks for it by name
DEFAULT_METRICS = {**METRICS, "multiple_choice": ("acc", "acc_norm")}
# key: (types it accepts, what to say when it is wrong)
KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "task": ((str,), "a name"),
    "description": ((str,), "text put before the few-shot examples"),
    "dataset": ((str,), "a data source (builtin:..., a .jsonl/.tsv/... path)"),
    "where": ((dict,), "a mapping column: value (or list of values) that keeps matching rows"),
    "test_size": ((int, float), "a fraction (0-1) or a count of rows for the test split"),
    "split_seed": ((int,), "an integer"),
    "test_split": ((str,), "'test' or 'train'"),
    "fewshot_split": ((str,), "'train' or 'test'"),
    "test_data": ((str,), "a data source"),
    "fewshot_data": ((str,), "a data source"),
    "output_type": ((str,), "one of " + ", ".join(OUTPUT_TYPES)),
    "doc_to_text": ((str,), "a column or a Jinja2 template"),
    "doc_to_target": ((str, int), "a column, a Jinja2 template or a choice index"),
    "doc_to_choice": ((list, dict, str), "a list of strings, a column or a template giving a list"),
    "target_delimiter": ((str,), "a string"),
    "fewshot_delimiter": ((str,), "a string"),
    "generation_kwargs": ((dict,), "a mapping with until and max_new_tokens"),
    "metric_list": ((list,), "a list of metric names or {metric: name} mappings"),
    "fewshot_seed": ((int,), "an integer"),
    "answer_regex": ((str,), "a regular expression"),
    "cot": ((dict,), "a chain-of-thought mapping such as {mode: zero_shot, lang: en, num_samples: 5}"),
}
REQUIRED = ("task", "output_type", "doc_to_text")
GENERATION_KEYS = ("until", "max_new_tokens")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")

# lm-eval's Jinja2 settings, so a template renders to the same prompt in both tools, but sandboxed:
# a task file is data, and a template must not reach Python's internals (`cycler.__init__.__globals__.os`).
JINJA = ImmutableSandboxedEnvironment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)
JINJA.filters["regex_replace"] = lambda s, pattern, repl, count=0: re.sub(pattern, repl, s, count=count)


@dataclass
class Task:
    """A checked task: its settings and its documents."""

    name: str
    path: str
    output_type: str
    doc_to_text: str
    doc_to_target: str | int | None
    doc_to_choice: list | dict | str | None
    metrics: list[str]
    test_docs: list[dict]
    fewshot_docs: list[dict]
    fewshot_is_test: bool
    columns: list[str]
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    until: list[str] = field(default_factory=list)
    max_new_tokens: int = 32
    fewshot_seed: int = 1234
    answer_regex: str | None = None
    cot: CotConfig | None = None
    settings: dict = field(default_factory=dict)

    def _field(self, doc: dict, spec: Any) -> Any:
        if isinstance(spec, str) and spec in self.columns:
            return doc[spec]
        return JINJA.from_string(spec).render(**doc)

    def text(self, doc: dict) -> str:
        """The prompt of one document (lm-eval's doc_to_text)."""
        return str(self._field(doc, self.doc_to_text))

    def choices(self, doc: dict) -> list[str]:
        """The answer choices of one document (lm-eval's doc_to_choice)."""
        spec = self.doc_to_choice
        if isinstance(spec, list):
            return [str(c) for c in spec]
        if isinstance(spec, dict):
            return [str(c) for c in spec.values()]
        value = self._field(doc, spec)
        return list(ast.literal_eval(value)) if isinstance(value, str) else list(value)

    def target(self, doc: dict) -> int | str:
        """The gold answer: a choice index for multiple choice, else the target text."""
        spec = self.doc_to_target
        if isinstance(spec, int):
            return spec
        value = self._field(doc, spec)
        if isinstance(value, str) and self.doc_to_choice is not None:
            if value.strip().isdigit():
                return int(value)
            choices = self.choices(doc)
            if value in choices:  # a target given as the choice's text (lm-eval accepts both)
                return choices.index(value)
        return value

    def resolved(self) -> dict[str, Any]:
        """The task file's settings with every default filled in (written next to results)."""
        keys = ("output_type", "doc_to_text", "doc_to_target", "doc_to_choice", "description", "target_delimiter",
                "fewshot_delimiter", "fewshot_seed", "answer_regex", "max_new_tokens", "until")
        cot = {"cot": asdict(self.cot)} if self.cot else {}
        return {**self.settings, **{k: getattr(self, k) for k in keys}, **cot, "metric_list": self.metrics,
                "test_docs": len(self.test_docs), "fewshot_docs": len(self.fewshot_docs)}

    def target_text(self, doc: dict) -> str:
        """The answer as text (a choice index turned into its choice)."""
        gold = self.target(doc)
        if self.doc_to_choice is not None and isinstance(gold, int):
            return self.choices(doc)[gold]
        return str(gold)


def task_names() -> list[str]:
    """The shipped task names (files in evaluation/tasks/)."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def find_task_file(name_or_path: str) -> Path:
    """A shipped task's file by name, or the user's YAML file."""
    if name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise LmlearnError(f"--task {name_or_path}: task file not found")
        return path
    path = TASKS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name_or_path, task_names(), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"shipped tasks: {', '.join(task_names())}"
        raise LmlearnError(f"--task {name_or_path}: no such task; {hint} (or give a path to a .yaml file)")
    return path


def _read(path: Path) -> tuple[dict, dict[str, int]]:
    from lmlearn.config import load_yaml

    data, root = load_yaml(path, "task file")
    if data is None:
        raise LmlearnError(f"{path}: a task file must be a mapping of key: value")
    return data, {k.value: k.start_mark.line + 1 for k, _ in root.value}


def _check_keys(path: Path, data: dict, lines: dict[str, int]) -> None:
    def where(key: str) -> str:
        return f"{path}:{lines[key]}" if key in lines else str(path)

    for key, value in data.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, list(KEYS), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else f"valid keys: {', '.join(KEYS)}"
            raise LmlearnError(f"{where(key)}: unknown key '{key}'; {hint}")
        types, what = KEYS[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise LmlearnError(f"{where(key)}: '{key}' must be {what}, got {value!r}")
    for key in REQUIRED:
        if key not in data:
            raise LmlearnError(f"{path}: missing required key '{key}'")
    kind = data["output_type"]
    if kind not in OUTPUT_TYPES:
        raise LmlearnError(f"{where('output_type')}: output_type '{kind}' must be one of {', '.join(OUTPUT_TYPES)}")
    if "dataset" not in data and "test_data" not in data:
        raise LmlearnError(f"{path}: missing required key 'dataset' (or 'test_data')")
    needs = {"multiple_choice": ("doc_to_target", "doc_to_choice"), "generate_until": ("doc_to_target",)}
    for key in needs.get(kind, ()):
        if key not in data:
            raise LmlearnError(f"{path}: missing required key '{key}' (output_type {kind} needs it)")
    for key in data.get("generation_kwargs", {}):
        if key not in GENERATION_KEYS:
            raise LmlearnError(f"{where('generation_kwargs')}: unknown generation_kwargs key '{key}'; "
                               f"valid: {', '.join(GENERATION_KEYS)}")
    for item in data.get("metric_list", []):
        name = item.get("metric") if isinstance(item, dict) else item
        if name not in METRICS[kind]:
            raise LmlearnError(f"{where('metric_list')}: metric '{name}' does not apply to {kind}; "
                               f"use {', '.join(METRICS[kind])}")
    if "answer_regex" in data:
        try:
            re.compile(data["answer_regex"])
        except re.error as e:
            raise LmlearnError(f"{where('answer_regex')}: answer_regex is not a valid regex ({e})") from None
    if "cot" in data:
        if kind != "generate_until":
            raise LmlearnError(f"{where('cot')}: cot needs output_type generate_until, not {kind}")
        try:
            parse_cot(data["cot"])
        except (ValueError, TypeError) as e:
            raise LmlearnError(f"{where('cot')}: {e}") from None


def _load_docs(path: Path, data: dict, lines: dict[str, int]) -> tuple[list[dict], list[dict], bool]:
    from lmlearn.data.locations import resolve_source
    from lmlearn.data.sources import load_source

    def rows(key: str) -> list[dict]:
        try:
            ds = load_source(resolve_source(data[key], path), required=[])
        except LmlearnError as e:
            raise LmlearnError(f"{path}:{lines.get(key, 0)}: {key}: {e}") from None
        return _filter(path, lines, data.get("where", {}), ds.to_list())

    if "test_data" in data:
        test = rows("test_data")
        if "fewshot_data" in data:
            return test, rows("fewshot_data"), False
        return test, test, True
    import datasets

    everything = rows("dataset")
    size = data.get("test_size", 0.5)
    if not everything or len(everything) < 2:
        raise LmlearnError(f"{path}:{lines.get('dataset', 0)}: dataset has too few rows to split ({len(everything)})")
    parts = datasets.Dataset.from_list(everything).train_test_split(test_size=size, seed=data.get("split_seed", 0))
    splits = {"train": parts["train"].to_list(), "test": parts["test"].to_list()}
    names = {key: data.get(key, default) for key, default in (("test_split", "test"), ("fewshot_split", "train"))}
    for key, name in names.items():
        if name not in splits:
            raise LmlearnError(f"{path}:{lines.get(key, 0)}: {key} '{name}' must be 'train' or 'test'")
    test = splits[names["test_split"]]
    if "fewshot_data" in data:
        return test, rows("fewshot_data"), False
    return test, splits[names["fewshot_split"]], names["test_split"] == names["fewshot_split"]


def _filter(path: Path, lines: dict[str, int], where: dict, docs: list[dict]) -> list[dict]:
    for column, wanted in where.items():
        if docs and column not in docs[0]:
            raise LmlearnError(f"{path}:{lines.get('where', 0)}: where: no column '{column}' "
                               f"(columns: {', '.join(docs[0])})")
        allowed = wanted if isinstance(wanted, list) else [wanted]
        docs = [d for d in docs if d[column] in allowed]
    return docs


def _check_templates(path: Path, lines: dict[str, int], task: Task) -> None:
    """Render every template on the first rows; a variable or column that is not in the data fails here."""
    for key in ("doc_to_text", "doc_to_target", "doc_to_choice"):
        spec = getattr(task, key)
        if isinstance(spec, str) and _IDENTIFIER.match(spec) and spec not in task.columns:
            close = difflib.get_close_matches(spec, task.columns, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise LmlearnError(f"{path}:{lines[key]}: {key}: no column '{spec}' in the data "
                               f"(columns: {', '.join(task.columns)}){hint}")
    for doc in (task.test_docs[:3] + task.fewshot_docs[:3]):
        for key, render in (("doc_to_text", task.text), ("doc_to_choice", task.choices), ("doc_to_target", task.target)):
            if getattr(task, key) is None:
                continue
            try:
                render(doc)
            except UndefinedError as e:
                name = re.search(r"'([^']+)' is undefined", str(e))
                var = name.group(1) if name else str(e)
                close = difflib.get_close_matches(var, task.columns, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise LmlearnError(f"{path}:{lines[key]}: {key} uses '{var}', which is not a column of the data "
                                   f"(columns: {', '.join(task.columns)}){hint}") from None
            except (TemplateError, ValueError, SyntaxError, TypeError) as e:
                raise LmlearnError(f"{path}:{lines[key]}: {key} does not render ({type(e).__name__}: {e})") from None
        if task.doc_to_choice is not None:
            gold = task.target(doc)
            if not isinstance(gold, int) or not 0 <= gold < len(task.choices(doc)):
                raise LmlearnError(f"{path}:{lines['doc_to_target']}: doc_to_target gives {gold!r}, "
                                   f"not an index into the {len(task.choices(doc))} choices")


def load_task(name_or_path: str) -> Task:
    """Read, check and load a task (its data included); fails with file, line and key."""
    path = find_task_file(name_or_path)
    data, lines = _read(path)
    _check_keys(path, data, lines)
    test, fewshot, fewshot_is_test = _load_docs(path, data, lines)
    if not test:
        raise LmlearnError(f"{path}: the test documents are empty (check dataset, where and test_size)")
    kind = data["output_type"]
    gen = data.get("generation_kwargs", {})
    metric_list = [m.get("metric") if isinstance(m, dict) else m for m in data.get("metric_list", [])]
    fewshot_delimiter = data.get("fewshot_delimiter", "\n\n")
    task = Task(
        name=data["task"], path=str(path), output_type=kind, doc_to_text=data["doc_to_text"],
        doc_to_target=data.get("doc_to_target"), doc_to_choice=data.get("doc_to_choice"),
        metrics=metric_list or list(DEFAULT_METRICS[kind]), test_docs=test, fewshot_docs=fewshot,
        fewshot_is_test=fewshot_is_test, columns=list(test[0]), description=data.get("description", ""),
        target_delimiter=data.get("target_delimiter", " "), fewshot_delimiter=fewshot_delimiter,
        until=list(gen.get("until", [fewshot_delimiter])), max_new_tokens=int(gen.get("max_new_tokens", 32)),
        fewshot_seed=data.get("fewshot_seed", 1234), answer_regex=data.get("answer_regex"),
        cot=parse_cot(data["cot"]) if "cot" in data else None, settings=data,
    )
    _check_templates(path, lines, task)
    return task
