"""Rows of an instruction dataset, and the strings in them that get translated.

A chosen field is translated wherever it holds text: a string, a list of strings, or a list of
messages, where only the text keys (`content`, `value`, `text`, `input`, `output`) are translated and
`role`, `from` and every other key stay as they are. That covers Alpaca (instruction/input/output), chat
(messages: [{role, content}], content parts included), ShareGPT (conversations: [{from, value}]) and
Self-Instruct seed tasks (instruction, instances: [{input, output}]).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from lmlearn.data.sources import json_records
from lmlearn.errors import LmlearnError

DEFAULT_FIELDS = ("instruction", "input", "output", "system", "prompt", "response", "question", "answer",
                  "text", "messages", "conversations", "chosen", "rejected", "instances")
TEXT_KEYS = ("content", "value", "text", "input", "output")
Path = tuple[str | int, ...]


def read_rows(spec: str) -> list[tuple[str, dict]]:
    """(where, row) for every row of `spec`.

    JSON and JSON lines files are read as they are, so every value keeps its exact type and rows may
    differ in shape; other sources go through `load_source`, whose Arrow table would fill in keys.
    """
    if os.path.isfile(spec) and spec.lower().endswith((".json", ".jsonl")):
        rows = list(json_records(spec))
    else:
        from lmlearn.data.sources import load_source

        rows = [(f"{spec}: row {i + 1}", row) for i, row in enumerate(load_source(spec, required=[]).to_list())]
    for where, row in rows:
        if not isinstance(row, dict):
            raise LmlearnError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return rows


def parse_fields(text: str | None) -> list[str] | None:
    """'instruction,output' -> ['instruction', 'output']; None or '' means the default fields."""
    names = [f.strip() for f in (text or "").split(",") if f.strip()]
    return names or None


def _walk(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, path + (i,))
    elif isinstance(value, dict):
        for key in TEXT_KEYS:
            if key in value:
                yield from _walk(value[key], path + (key,))


def text_slots(row: dict, fields: list[str] | None) -> list[tuple[Path, str]]:
    """(path, text) of each non-empty string to translate in `row`."""
    names = fields if fields is not None else [f for f in DEFAULT_FIELDS if f in row]
    return [(path, text) for name in names if name in row for path, text in _walk(row[name], (name,)) if text]


def check_fields(rows: list[tuple[str, dict]], fields: list[str] | None) -> None:
    """Fail when the chosen (or default) fields hold no text in any row: most likely the wrong names."""
    if any(text_slots(row, fields) for _, row in rows) or not rows:
        return
    seen = sorted({key for _, row in rows for key in row})
    if fields is None:
        raise LmlearnError(f"no text in any of the usual fields; name them with --fields (fields: {', '.join(seen)})")
    raise LmlearnError(f"--fields {','.join(fields)}: no text there in any row (fields: {', '.join(seen)})")


def set_path(row: dict, path: Path, value: str) -> None:
    """Replace the string at `path` inside `row`."""
    target: Any = row
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
