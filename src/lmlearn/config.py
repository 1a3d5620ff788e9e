"""Typed settings: dataclasses filled from an optional YAML file, then from command-line flags.

Every command declares one dataclass. Its fields are both the YAML keys (`max_steps`) and the
flags (`--max-steps`); the flag wins. Unknown keys and wrong types fail with the file, the line
and the nearest valid keys, before anything heavy is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from lmlearn.errors import LmlearnError

T = TypeVar("T")


def option(default: Any, help: str, *, short: str | None = None, range: str | None = None) -> Any:
    """Declare a settings field with its help text, an optional short flag, and for numbers the
    allowed range: ">0", ">=1", "[0, 1]", "[0, 1)", "(0, 1]" or "(0, 1)" (checked with the type)."""
    if range is not None:
        _parse_range(range)  # a typo in a declaration fails at import, not on a user's run
    return dataclasses.field(default=default, metadata={"help": help, "short": short, "range": range})


def _parse_range(text: str) -> tuple[float, bool, float, bool]:
    """(low, low inclusive, high, high inclusive) of an `option(range=...)` string."""
    text = text.replace(" ", "")
    if text.startswith((">=", ">")):
        return float(text.lstrip(">=")), text.startswith(">="), float("inf"), False
    if text[:1] in "[(" and text[-1:] in "])" and "," in text:
        low, high = text[1:-1].split(",")
        return float(low), text[0] == "[", float(high), text[-1] == "]"
    raise ValueError(f"not a range: {text!r}")


def in_range(value: float, text: str) -> bool:
    """Whether `value` lies in the `option(range=...)` string `text`."""
    low, low_in, high, high_in = _parse_range(text)
    return (low < value or (low_in and value == low)) and (value < high or (high_in and value == high))


def with_options(base: type, option_classes: list[type], name: str, doc: str) -> type:
    """A settings dataclass: `base` plus the fields of each method's own Options dataclass.

    Methods may share an option (several objectives use `mlm_probability`) if they agree on its
    type and default.
    """
    fields: dict[str, tuple[str, Any, dataclasses.Field]] = {}
    for options in option_classes:
        hints = typing.get_type_hints(options)
        for f in dataclasses.fields(options):
            if f.name in fields and (fields[f.name][1], fields[f.name][2].default) != (hints[f.name], f.default):
                raise TypeError(f"option '{f.name}' is declared twice with different types or defaults")
            fields[f.name] = (f.name, hints[f.name], dataclasses.field(default=f.default, metadata=f.metadata))
    cls = dataclasses.make_dataclass(name, list(fields.values()), bases=(base,))
    cls.__doc__ = doc
    return cls


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _type_name(tp: Any) -> str:
    inner, optional = _unwrap_optional(tp)
    if typing.get_origin(inner) is Literal:
        name = "one of " + ", ".join(repr(c) for c in typing.get_args(inner))
    else:
        name = getattr(inner, "__name__", str(inner))
    return f"{name} or null" if optional else name


def check_value(key: str, value: Any, tp: Any, where: str) -> Any:
    """Return value converted to the field's type, or fail naming the key and the type."""
    inner, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    ok = False
    if typing.get_origin(inner) is Literal:
        ok = value in typing.get_args(inner)
    elif inner is bool:
        ok = isinstance(value, bool)
    elif inner is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif inner is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif inner is str:
        ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        value = str(value) if ok else value
    if not ok:
        raise LmlearnError(f"{where}: '{key}' must be {_type_name(tp)}, got {value!r}")
    return value


def suggest(key: str, valid: list[str]) -> str:
    """The "did you mean" tail of an unknown-key error."""
    close = difflib.get_close_matches(key.replace("-", "_"), valid, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(valid)}"


def parse_yaml(path: str | os.PathLike) -> tuple[Any, Any]:
    """Parse a YAML file: (data, root node, whose marks give line numbers). Invalid YAML names the
    file and line."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise LmlearnError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None


def load_yaml(path: str | os.PathLike, what: str = "config file") -> tuple[Any, Any]:
    """`parse_yaml` of a file that must hold a mapping (or nothing)."""
    data, root = parse_yaml(path)
    if data is not None and (not isinstance(data, dict) or not isinstance(root, yaml.MappingNode)):
        raise LmlearnError(f"{path}: a {what} must be a mapping of key: value")
    return data, root


def _read_yaml(path: str) -> dict[str, tuple[Any, int]]:
    """Read a flat YAML mapping into {key: (value, line)}."""
    if not os.path.isfile(path):
        raise LmlearnError(f"config file not found: {path}")
    data, root = load_yaml(path)
    if data is None:
        return {}
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value}
    return {str(k): (v, lines.get(str(k), 0)) for k, v in data.items()}


def resolve(cls: type[T], config_file: str | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Build `cls` from defaults, then the YAML file, then flag overrides (already typed)."""
    items: dict[str, tuple[Any, str]] = {}
    if config_file:
        items.update({key: (value, f"{config_file}:{line}") for key, (value, line) in _read_yaml(config_file).items()})
    items.update({key: (value, f"--{key.replace('_', '-')}") for key, value in (overrides or {}).items()})
    return resolve_items(cls, items)


def resolve_items(cls: type[T], items: dict[str, tuple[Any, str]]) -> T:
    """Build `cls` from {key: (value, where)}; an unknown key or a wrong type names its `where`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, (value, where) in items.items():
        if key not in fields:
            raise LmlearnError(f"{where}: unknown key '{key}'{suggest(key, sorted(fields))}")
        values[key] = check_value(key, value, hints[key], where)
        allowed = fields[key].metadata.get("range")
        if allowed and values[key] is not None and not in_range(values[key], allowed):
            if where.startswith("--"):  # a flag: "--lr -1.0: must be > 0"
                raise LmlearnError(f"{where} {values[key]!r}: must be {_range_words(allowed)}")
            raise LmlearnError(f"{where}: '{key}' must be {_range_words(allowed)}, got {values[key]!r}")
    return cls(**values)


def _range_words(text: str) -> str:
    """">=1" as "at least 1", ">0" as "> 0", "[0,1)" as "in [0, 1)"."""
    text = text.replace(" ", "")
    if text.startswith(">="):
        return f"at least {text[2:]}"
    if text.startswith(">"):
        return f"> {text[1:]}"
    return "in " + text.replace(",", ", ")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The settings as a plain dict (what gets written next to a run's outputs)."""
    return dataclasses.asdict(cfg)


def save(cfg: Any, path: str | os.PathLike) -> None:
    """Write the resolved settings as YAML, atomically."""
    from lmlearn.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per field of `cls`; unset flags stay absent so YAML values are kept."""
    hints = typing.get_type_hints(cls)
    parser.add_argument("--config", metavar="FILE", help="YAML file with settings (flags override it)")
    for f in dataclasses.fields(cls):
        inner, _ = _unwrap_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        names = [flag] + ([f.metadata["short"]] if f.metadata.get("short") else [])
        default = f.default if f.default is not dataclasses.MISSING else None
        allowed = f"; {_range_words(f.metadata['range'])}" if f.metadata.get("range") else ""
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            "help": f"{f.metadata.get('help', '')} (default: {default}{allowed})",
        }
        if inner is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif typing.get_origin(inner) is Literal:
            kwargs.update(choices=list(typing.get_args(inner)), type=type(typing.get_args(inner)[0]))
        else:
            kwargs.update(type=inner, metavar=f.name.upper())
        parser.add_argument(*names, **kwargs)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """Resolve `cls` from parsed arguments (the --config file plus any flags given)."""
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    return resolve(cls, getattr(args, "config", None), overrides)
