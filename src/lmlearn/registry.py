"""Registries of named methods: `{name: "package.module:Class"}` tables whose modules are imported only
when a name is used, so that `lmlearn --help` does not wait for torch."""

from __future__ import annotations

import importlib
from typing import Any, Iterable

from lmlearn.errors import LmlearnError


def import_spec(spec: str) -> Any:
    """The object that 'package.module:attribute' names."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def lookup(table: dict[str, str], name: str, what: str, available: Iterable[str]) -> Any:
    """The object registered under `name` in `table`; an unknown name fails listing the `available` ones."""
    if name not in table:
        raise LmlearnError(f"unknown {what} '{name}'; available: {', '.join(available)}")
    return import_spec(table[name])
