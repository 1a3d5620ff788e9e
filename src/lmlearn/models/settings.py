"""Model and tokenizer settings shared by every command that builds or loads a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.config import option


@dataclass
class ModelSettings:
    """Which model to train, and which tokenizer to use with it."""

    model: str = option("preset:gpt2-tiny", "a preset (preset:NAME, see `lmlearn models`), a local Hugging Face "
                                               "model folder, or a Hub id (owner/name)")
    tokenizer: str | None = option(None, "tokenizer folder (default: the model folder's, else one trained on --data)")
    tokenizer_kind: Literal["bpe", "wordpiece", "unigram"] | None = option(
        None, "kind of tokenizer to train when none is given (default: the model family's)")
    vocab_size: int = option(8000, "vocabulary size of a tokenizer trained on the data", range=">=1")
