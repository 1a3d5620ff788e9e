"""What every pre-training objective shares: construction, the model it trains, how it saves."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch


class Objective:
    """Base class of the objectives; a subclass sets the class attributes and writes
    `prepare` (text rows -> examples), `collate` (examples -> batch) and `loss` (batch -> scalar)."""

    name: ClassVar[str]
    head: ClassVar[str]  # the model head it trains: causal-lm, masked-lm, seq2seq-lm, pretraining
    families: ClassVar[tuple[str, ...]]
    Options: ClassVar[type | None] = None  # a dataclass of its own settings, which become pretrain flags
    token_loss: ClassVar[bool] = True  # the loss is a mean token cross-entropy, so exp(loss) is a perplexity

    def __init__(self, cfg: Any = None, tokenizer: Any = None):
        self.cfg, self.tokenizer = cfg, tokenizer

    def build_model(self, spec: str, seed: int) -> torch.nn.Module:
        """The model to train: a preset or folder with this objective's head."""
        from lmlearn.models.factory import load_model

        return load_model(spec, self.head, self.tokenizer, seed=seed)

    def save(self, model: torch.nn.Module, path: str | Path) -> None:
        """Save what users keep (a folder `AutoModel*.from_pretrained` loads), atomically."""
        from lmlearn.models.factory import save_model

        save_model(model, self.tokenizer, path)

    def prepare(self, ds: Any, *, what: str = "data") -> Any:
        """Turn a dataset of text rows into training examples (a tensor or a list)."""
        raise NotImplementedError

    def collate(self, examples: Any, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Turn examples into a batch; every random draw comes from `generator`."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar loss; by default the model's own (Hugging Face heads compute it from labels)."""
        return model(**batch).loss
