"""PEFT adapters on top of a loaded model (a folder saved by `peft`, as `PeftModel` saves it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmlearn.errors import LmlearnError


def attach_adapter(model: Any, adapter: str) -> Any:
    """Wrap `model` with the adapter saved in folder `adapter`, ready for inference."""
    folder = Path(adapter)
    if not (folder / "adapter_config.json").is_file():
        raise LmlearnError(f"--adapter {adapter}: no adapter_config.json there (a folder saved by peft)")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)).eval()
