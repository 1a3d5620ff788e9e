"""A task's data as examples: rows read, every template field computed, answers checked against the options.

A field is a column name or a Jinja2 expression over the row's columns and its language `lang`
(`{{ ['부정', '긍정'][label | int] }}`).
Expressions get lm-eval's `regex_replace` filter, a `regex_findall` filter, an `endswith` test
(`select('endswith', ' [PER]')`) and, for tagged data, `bio_spans(units, tags, kind, sep)` and
`bio_entities(units, tags, sep)` ("surface [KIND]").
"""

from __future__ import annotations

import difflib
import glob
import os
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmlearn.errors import LmlearnError
from lmlearn.flan.spec import TaskSpec


@dataclass
class Example:
    """One row of a task with its template fields as text."""

    task: str
    cluster: str
    lang: str
    values: dict[str, str]
    options: list[str] | None
    input: str  # the bare input (the spec's `input` rendered): what splits are made disjoint on

    @property
    def answer(self) -> str:
        """The gold answer."""
        return self.values["answer"]


def bio_spans(units: list[str], tags: list[str], kind: str | None = None, sep: str = " ") -> list[str]:
    """The entities of a BIO-tagged sentence (of type `kind`, or all), their units joined by `sep`."""
    return [surface for surface, k in _spans(units, tags, sep) if kind is None or k == kind]


def bio_entities(units: list[str], tags: list[str], sep: str = " ") -> list[str]:
    """Every entity as "surface [KIND]", in order."""
    return [f"{surface} [{k}]" for surface, k in _spans(units, tags, sep)]


def _spans(units: list[str], tags: list[str], sep: str) -> list[tuple[str, str]]:
    spans: list[tuple[list[str], str]] = []
    prev = "O"
    for unit, tag in zip(units, tags):
        # An I- tag that does not continue a span of its type opens one, as seqeval reads it.
        if tag.startswith("I-") and prev[2:] == tag[2:]:
            spans[-1][0].append(unit)
        elif tag != "O":
            spans.append(([unit], tag[2:]))
        prev = tag
    return [(sep.join(parts).strip(), kind) for parts, kind in spans]


# Sandboxed: a template file is data, and must not reach Python's internals.
ENV = ImmutableSandboxedEnvironment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)
ENV.filters["regex_replace"] = lambda s, pattern, repl, count=0: re.sub(pattern, repl, s, count=count)
ENV.filters["regex_findall"] = lambda s, pattern: re.findall(pattern, s)
ENV.tests["endswith"] = str.endswith
ENV.globals.update(bio_spans=bio_spans, bio_entities=bio_entities)


def is_expression(value: str) -> bool:
    """Whether a field is a Jinja2 expression rather than a column name."""
    return "{{" in value or "{%" in value


def resolve_data(spec: TaskSpec) -> str:
    """The data source: `data:REL` under the data folder; a relative path beside the template file first, then
    from the working folder."""
    from lmlearn.data.locations import resolve_source

    return resolve_source(spec.data, spec.path)


def data_present(spec: TaskSpec) -> bool:
    """Whether the task's data can be read here (built-in data always can)."""
    try:
        source = resolve_data(spec)
    except LmlearnError:  # a data: path whose file is not in the data folder
        return False
    return source.startswith("builtin:") or bool(glob.glob(source))


def columns_needed(spec: TaskSpec) -> dict[str, tuple[str, ...]]:
    """The columns each field reads, by field name (and `options`/`lang` when they come from columns)."""
    needed: dict[str, tuple[str, ...]] = {}
    for name, value in spec.fields.items():
        if is_expression(value):
            try:
                variables = meta.find_undeclared_variables(ENV.parse(value))
            except TemplateError as e:
                raise LmlearnError(f"{spec.where('fields', name)}: field '{name}' is not a valid Jinja2 "
                                   f"expression ({e})") from None
            given = set(ENV.globals) | ({"lang"} if spec.lang else set())  # `lang` is the row's language
            needed[name] = tuple(sorted(variables - given))
        else:
            needed[name] = (value,)
    if isinstance(spec.options, str):
        needed["options"] = (spec.options,)
    if spec.lang is None:
        needed["lang"] = ("lang",)
    return needed


def read_rows(spec: TaskSpec) -> list[dict[str, Any]]:
    """The raw rows of the task's data: any lmlearn source, or a CoNLL/KLUE file as {tokens, tags}."""
    source = resolve_data(spec)
    if not data_present(spec):
        raise LmlearnError(f"{spec.where('data')}: data {spec.data} not found (relative paths are read beside the "
                           "template file, then from the working folder: run from the project root)")
    try:
        if not source.startswith("builtin:") and os.path.isfile(source):
            from lmlearn.tasks.tag import is_conll, read_conll

            if is_conll(source):
                from lmlearn.data.sources import ReadReport

                return [{"tokens": units, "tags": tags} for _, units, tags in read_conll(source, ReadReport(), "error")]
        from lmlearn.data.sources import load_source

        return load_source(source, required=[]).to_list()
    except LmlearnError as e:
        raise LmlearnError(f"{spec.where('data')}: {e}") from None


def _check_columns(spec: TaskSpec, rows: list[dict]) -> None:
    columns = sorted(rows[0])
    for name, needs in columns_needed(spec).items():
        for column in needs:
            if column in rows[0]:
                continue
            if name == "lang":
                raise LmlearnError(f"{spec.where('templates')}: {spec.data} has no lang column; set lang: CODE "
                                   "(the language of its rows)")
            close = difflib.get_close_matches(column, columns, n=1)
            raise LmlearnError(f"{spec.where(*(('options',) if name == 'options' else ('fields', name)))}: no column "
                               f"'{column}' in {spec.data} (columns: {', '.join(columns)})"
                               f"{f'; did you mean {close[0]}?' if close else ''}")


def _value(spec: TaskSpec, name: str, compiled: Any, row: dict, i: int) -> str:
    if isinstance(compiled, str):
        return str(row[compiled])
    try:
        return compiled.render(**row)
    except (TemplateError, TypeError, ValueError, KeyError, IndexError) as e:
        raise LmlearnError(f"{spec.where('fields', name)}: field '{name}' does not render on row {i + 1} of "
                           f"{spec.data} ({type(e).__name__}: {e})") from None


def load_examples(spec: TaskSpec) -> list[Example]:
    """Every row of the task as an Example; fails naming file:line of the field or key at fault."""
    rows = read_rows(spec)
    if not rows:
        raise LmlearnError(f"{spec.where('data')}: {spec.data} has no rows")
    _check_columns(spec, rows)
    compiled = {name: ENV.from_string(v) if is_expression(v) else v for name, v in spec.fields.items()}
    examples = []
    for i, row in enumerate(rows):
        lang = spec.lang or str(row["lang"])
        values = {name: _value(spec, name, c, {**row, "lang": lang}, i) for name, c in compiled.items()}
        if lang not in spec.templates:
            raise LmlearnError(f"{spec.where('templates')}: row {i + 1} of {spec.data} is in '{lang}', which has no "
                               f"templates (templates: {', '.join(spec.templates)})")
        options = None
        if spec.options is not None:
            options = list(row[spec.options]) if isinstance(spec.options, str) else list(spec.options)
            if values["answer"] not in options:
                raise LmlearnError(f"{spec.where('fields', 'answer')}: row {i + 1} of {spec.data}: answer "
                                   f"{values['answer']!r} is not one of the options {options}")
        examples.append(Example(spec.task, spec.cluster, lang, values, options, spec.input.format_map(values)))
    return examples
