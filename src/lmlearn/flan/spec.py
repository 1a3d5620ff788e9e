"""Template files: one task's data, fields and instruction templates, checked before any data loads.

```yaml
task: nli                        # the task's name (also its file's name)
cluster: nli                     # its FLAN task cluster
data: builtin:nli?n=2000         # any lmlearn source, or a CoNLL/KLUE file of unit<TAB>tag lines
lang: ko                         # optional: the rows' language when the data has no `lang` column
fields:                          # what templates may name: a column, or a Jinja2 expression over a row
  premise: premise
  answer: answer                 # required: the gold answer (one of the options for classification)
options: options                 # classification only: a column of answer lists, or a list
input: "{premise}\n{hypothesis}" # the bare input, for the no-template and task-name ablations
templates:                       # per language, ten or more
  en:
    - instruction: "{premise}\n\nCan we conclude that \"{hypothesis}\"?"   # target defaults to {answer}
    - {instruction: "Write a claim that {relation_en} the text.\n\n{premise}", target: "{hypothesis}", inverted: true}
```
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmlearn.config import check_value, suggest
from lmlearn.errors import LmlearnError

TEMPLATES_DIR = Path(__file__).parent / "templates"
KEYS = ("task", "cluster", "data", "lang", "fields", "options", "input", "templates")
REQUIRED = ("task", "cluster", "data", "fields", "input", "templates")
TEMPLATE_KEYS = ("instruction", "target", "inverted")
ANSWER = "{answer}"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELD = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Template:
    """One way of asking the task: an instruction and a target, both with {field} placeholders."""

    instruction: str
    target: str
    inverted: bool
    lang: str
    index: int

    @property
    def id(self) -> str:
        """Its name in training rows and eval documents: language/position."""
        return f"{self.lang}/{self.index}"

    @property
    def fields(self) -> set[str]:
        """The fields it names."""
        return set(placeholders(self.instruction)) | set(placeholders(self.target))


@dataclass
class TaskSpec:
    """A checked template file."""

    path: Path
    task: str
    cluster: str
    data: str
    fields: dict[str, str]
    input: str
    templates: dict[str, list[Template]]
    lang: str | None = None
    options: list[str] | str | None = None
    lines: dict[tuple, int] = field(default_factory=dict)

    @property
    def classification(self) -> bool:
        """Whether the answer is one of a few options (FLAN appends them to the instruction)."""
        return self.options is not None

    def where(self, *key: Any) -> str:
        """file:line of a key path such as ("fields", "answer"), or of the nearest enclosing key."""
        return locate(self.path, self.lines, key)


@functools.lru_cache(maxsize=None)
def placeholders(text: str) -> tuple[str, ...]:
    """The {names} in a template, in order; raises ValueError for a malformed one."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not _FIELD.match(name) or spec or conversion:
            raise ValueError(f"placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} must be a plain field name such as {{text}}")
        names.append(name)
    return tuple(names)


def locate(path: Path, lines: dict[tuple, int], key: tuple) -> str:
    """file:line of a key path, or of the nearest enclosing key that has a line."""
    while key and key not in lines:
        key = key[:-1]
    return f"{path}:{lines.get(key, 1)}"


def shipped_files() -> dict[str, Path]:
    """The shipped template files by task name."""
    return {p.stem: p for p in sorted(TEMPLATES_DIR.glob("*.yaml"))}


def _lines(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    """The line of every key and list item under `node`, by key path."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[path + (key.value,)] = key.start_mark.line + 1
            _lines(value, path + (key.value,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _lines(item, path + (i,), out)


def _read(path: Path) -> tuple[dict, dict[tuple, int]]:
    from lmlearn.config import load_yaml

    data, root = load_yaml(path, "template file")
    if data is None:
        raise LmlearnError(f"{path}: a template file must be a mapping of key: value")
    lines: dict[tuple, int] = {}
    _lines(root, (), lines)
    return data, lines


class _Checker:
    """Checks one file's keys and placeholders, naming file:line in every error."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path, self.lines = path, lines

    def where(self, *key: Any) -> str:
        return locate(self.path, self.lines, key)

    def keys(self, mapping: dict, valid: tuple[str, ...], required: tuple[str, ...], *at: Any) -> None:
        for key in mapping:
            if key not in valid:
                raise LmlearnError(f"{self.where(*at, key)}: unknown key '{key}'{suggest(str(key), list(valid))}")
        for key in required:
            if key not in mapping:
                raise LmlearnError(f"{self.where(*at)}: missing required key '{key}'")

    def text(self, value: Any, *at: Any) -> str:
        text = check_value(str(at[-1]), value, str, self.where(*at))
        if not text.strip():
            raise LmlearnError(f"{self.where(*at)}: '{at[-1]}' is empty")
        return text

    def fields_of(self, text: str, known: dict[str, str], *at: Any) -> None:
        try:
            names = placeholders(text)
        except ValueError as e:
            raise LmlearnError(f"{self.where(*at)}: '{at[-1]}' has a malformed placeholder ({e})") from None
        for name in names:
            if name not in known:
                raise LmlearnError(f"{self.where(*at)}: {{{name}}} is not a field of the task"
                                   f"{suggest(name, sorted(known))} (declare it under fields:)")


def _templates(check: _Checker, raw: Any, fields: dict[str, str], classification: bool) -> dict[str, list[Template]]:
    if not isinstance(raw, dict) or not raw:
        raise LmlearnError(f"{check.where('templates')}: 'templates' must map a language (en, ko) to a list of templates")
    out: dict[str, list[Template]] = {}
    for lang, items in raw.items():
        if not isinstance(items, list) or not items:
            raise LmlearnError(f"{check.where('templates', lang)}: templates of '{lang}' must be a non-empty list")
        out[lang] = []
        for i, item in enumerate(items):
            at = ("templates", lang, i)
            if not isinstance(item, dict):
                raise LmlearnError(f"{check.where(*at)}: a template is a mapping with instruction (and target, inverted)")
            check.keys(item, TEMPLATE_KEYS, ("instruction",), *at)
            inverted = check_value("inverted", item.get("inverted", False), bool, check.where(*at, "inverted"))
            if inverted and "target" not in item:
                raise LmlearnError(f"{check.where(*at)}: an inverted template needs a target (what it asks to write)")
            instruction = check.text(item["instruction"], *at, "instruction")
            target = check.text(item.get("target", ANSWER), *at, "target")
            check.fields_of(instruction, fields, *at, "instruction")
            check.fields_of(target, fields, *at, "target")
            if classification and not inverted and target != ANSWER:
                raise LmlearnError(f"{check.where(*at, 'target')}: a classification template answers with one of "
                                   f"the options, so its target is {ANSWER} (or mark it inverted: true)")
            out[lang].append(Template(instruction, target, inverted, str(lang), i))
    return out


def load_spec(path: str | Path) -> TaskSpec:
    """Read and check a template file: keys, types and every placeholder; no data is read."""
    path = Path(path)
    if not path.is_file():
        raise LmlearnError(f"template file not found: {path}")
    data, lines = _read(path)
    check = _Checker(path, lines)
    check.keys(data, KEYS, REQUIRED)
    names = {key: check.text(data[key], key) for key in ("task", "cluster")}
    for key, name in names.items():
        if not _NAME.match(name):
            raise LmlearnError(f"{check.where(key)}: {key} '{name}' may hold only letters, digits, - and _")
    fields = data["fields"]
    if not isinstance(fields, dict) or not fields:
        raise LmlearnError(f"{check.where('fields')}: 'fields' must map field names to columns or Jinja2 expressions")
    for name, value in fields.items():
        if not _FIELD.match(str(name)):
            raise LmlearnError(f"{check.where('fields', name)}: field name '{name}' must be an identifier")
        check.text(value, "fields", name)
    if "answer" not in fields:
        raise LmlearnError(f"{check.where('fields')}: fields must define 'answer' (the gold answer)")
    options = data.get("options")
    if options is not None and not (isinstance(options, str) or isinstance(options, list) and len(options) >= 2
                                    and all(isinstance(o, str) and o for o in options)):
        raise LmlearnError(f"{check.where('options')}: 'options' must be a column of answer lists or a list of "
                           f"two or more answer strings, got {options!r}")
    lang = data.get("lang")
    if lang is not None:
        lang = check.text(lang, "lang")
    bare = check.text(data["input"], "input")
    check.fields_of(bare, fields, "input")
    templates = _templates(check, data["templates"], fields, options is not None)
    if lang is not None and lang not in templates:
        raise LmlearnError(f"{check.where('lang')}: lang '{lang}' has no templates (templates: {', '.join(templates)})")
    return TaskSpec(path=path, task=names["task"], cluster=names["cluster"], data=check.text(data["data"], "data"),
                    fields={str(k): str(v) for k, v in fields.items()}, input=bare, templates=templates, lang=lang,
                    options=options, lines=lines)
