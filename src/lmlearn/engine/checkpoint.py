"""Checkpoints that make resume exact: weights, optimizer, schedule, every RNG, and the step.

Each checkpoint is a folder `step-NNNNNNNN` written under a temporary name and renamed when
complete, so a kill at any moment leaves only whole checkpoints behind.

A checkpoint folder may come from someone else, so it is read as data: every file loads with
`torch.load(weights_only=True)`, which unpickles tensors, numbers, strings and containers and
nothing that can run code. The RNG states are kept in those types for that reason.
"""

from __future__ import annotations

import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_dir

_NAME = re.compile(r"^step-(\d{8})$")


def rng_state() -> dict[str, Any]:
    """Every random state a training step may draw from (as tensors, numbers and tuples only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Complete checkpoints in `folder`, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def save_checkpoint(folder: str | Path, step: int, model: torch.nn.Module, state: dict[str, Any],
                    keep_last: int) -> Path:
    """Write checkpoint `step` atomically, then drop all but the newest `keep_last`."""
    def fill(tmp: Path) -> None:
        torch.save(model.state_dict(), tmp / "model.pt")
        torch.save(state, tmp / "state.pt")  # written last: its presence marks a complete checkpoint

    path = atomic_write_dir(Path(folder) / f"step-{step:08d}", fill)
    for old in list_checkpoints(folder)[:-max(keep_last, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's model weights and training state (CPU tensors)."""
    path = Path(path)
    return _load_data(path / "model.pt"), _load_data(path / "state.pt")


def _load_data(file: Path) -> Any:
    """A torch.save file read as plain data; one that would need to run code to load is refused."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).split("\n")[0][:200]
        raise LmlearnError(f"{file}: refused, it holds objects other than tensors, numbers and strings, which "
                           f"could run code when loaded (not written by this lmlearn?): {reason}") from None
