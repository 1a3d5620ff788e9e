"""Data settings shared by every command that reads text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.config import option


@dataclass
class DataSettings:
    """Where the data comes from and how it is read."""

    data: str = option("builtin:corpus", "training data: file, glob, saved dataset folder, hub name or builtin:NAME")
    eval_data: str | None = option(None, "held-out data (default: a seeded split of --data)")
    eval_fraction: float = option(0.05, "fraction of --data held out when --eval-data is not given", range="[0, 1)")
    text_column: str = option("text", "column holding the text")
    txt_unit: Literal["line", "paragraph", "file"] = option("line", "what one example of a .txt file is")
    on_bad_rows: Literal["error", "skip"] = option("error", "stop at a malformed row, or skip and count it")
    block_size: int = option(256, "tokens per training block", range=">=2")
