"""PEFT adapters on top of a loaded model (a folder saved by `peft`, as `PeftModel` saves it)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from lmlearn.errors import LmlearnError


def _without_kernels_notice(record: logging.LogRecord) -> bool:
    return "kernels-community" not in record.getMessage()


def quiet_bitsandbytes() -> None:
    """Drop bitsandbytes' import-time notice that the optional `kernels` package is missing.

    `import peft` imports bitsandbytes, whose CPU backend then logs that a faster 4-bit CPU matmul
    (from `kernels`) is unavailable and falls back to its own, which is all lmlearn needs. The
    filter must be in place before that first import, and drops only this one notice.
    """
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_without_kernels_notice)


def attach_adapter(model: Any, adapter: str) -> Any:
    """Wrap `model` with the adapter saved in folder `adapter`, ready for inference."""
    folder = Path(adapter)
    if not (folder / "adapter_config.json").is_file():
        raise LmlearnError(f"--adapter {adapter}: no adapter_config.json there (a folder saved by peft)")
    quiet_bitsandbytes()
    from peft import PeftModel

    with warnings.catch_warnings():  # peft still asks transformers' deprecated is_gradient_checkpointing
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return PeftModel.from_pretrained(model, str(folder)).eval()
