"""Where a task file's data lives. Shipped task files name the real data sets as `data:NAME/FILE`, under the
data folder: `--data-dir`, else the environment variable LMLEARN_DATA, else ../shared/data (this repository's
layout, from its root), so an installed copy of lmlearn finds them wherever the user keeps them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from lmlearn.errors import LmlearnError

DATA_PREFIX = "data:"
DEFAULT_DATA_DIR = "../shared/data"


def data_dir() -> str:
    """The data folder: LMLEARN_DATA (which --data-dir sets), else ../shared/data."""
    return os.environ.get("LMLEARN_DATA") or DEFAULT_DATA_DIR


def set_data_dir(folder: str) -> None:
    """`--data-dir`: the folder `data:` paths are read from, for this run and the runs it starts."""
    if folder:
        if not os.path.isdir(folder):
            raise LmlearnError(f"--data-dir {folder}: no such folder")
        os.environ["LMLEARN_DATA"] = os.path.abspath(folder)


def resolve_source(spec: str, task_file: Path | None = None) -> str:
    """A data source named in a task file: `data:REL` under the data folder (an error names the file looked for
    and how to point elsewhere); a relative path beside the task file first, then from the working folder."""
    if spec.startswith(DATA_PREFIX):
        path = os.path.join(data_dir(), spec[len(DATA_PREFIX):])
        if not glob.glob(path):
            raise LmlearnError(f"{spec}: {path} is missing; point --data-dir (or LMLEARN_DATA) at the folder that "
                               f"holds {spec[len(DATA_PREFIX):].split('/')[0]}/")
        return path
    if spec.startswith("builtin:") or os.path.isabs(spec) or task_file is None:
        return spec
    beside = task_file.parent / spec
    return str(beside) if beside.exists() else spec
