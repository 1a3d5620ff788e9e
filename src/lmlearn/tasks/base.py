"""What every downstream task shares: reading and checking its data, the model it trains, batching,
prediction and scoring.

A task is one file holding a subclass of `Task`. The shared training loop sees it through
`collate` and `loss` (or `step`, which the classification tasks define to log accuracy), exactly as it
sees a pre-training objective; `lmlearn finetune` does the rest:
read → fit (label set) → prepare → train → predict → score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch

from lmlearn.data.sources import WHERE, ReadReport
from lmlearn.errors import LmlearnError


class Task:
    """Base class of the tasks; a subclass sets the class attributes and writes `columns`, `prepare`,
    `collate`, `predict_batch` and `score`, plus `fit` when the training data defines labels."""

    name: ClassVar[str]
    head: ClassVar[str]  # the model head: sequence-classification, token-classification, question-answering, seq2seq-lm
    families: ClassVar[tuple[str, ...]]
    Options: ClassVar[type | None] = None  # a dataclass of its own settings (column names ...), which become flags
    metric: ClassVar[str]  # the headline metric, the one tables report

    def __init__(self, cfg: Any, tokenizer: Any = None):
        self.cfg, self.tokenizer = cfg, tokenizer

    # --- data -------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """The columns every row must have (non-empty)."""
        raise NotImplementedError

    def read(self, spec: str, *, what: str, report: ReadReport) -> Any:
        """Load a source as a `datasets.Dataset` with the task's columns and a `_where` column (file:line)."""
        from lmlearn.data.sources import load_source

        return load_source(spec, required=self.columns(), txt_unit=self.cfg.txt_unit,
                           on_bad_rows=self.cfg.on_bad_rows, report=report, locate=True)

    def read_splits(self, report: ReadReport) -> tuple[Any, Any]:
        """Training and test rows: --data and --eval-data, or a seeded --eval-fraction of --data."""
        train_ds = self.read(self.cfg.data, what="training data", report=report)
        if self.cfg.eval_data:
            return train_ds, self.read(self.cfg.eval_data, what="test data", report=report)
        parts = train_ds.train_test_split(test_size=self.cfg.eval_fraction, seed=self.cfg.seed)
        return parts["train"], parts["test"]

    def tokenizer_texts(self, ds: Any) -> Iterator[str]:
        """The texts a new tokenizer is trained on when the model brings none."""
        from lmlearn.data.sources import iter_texts

        return iter_texts(ds, self.cfg.text_column)

    def fit(self, train_ds: Any) -> None:
        """Learn what the training data defines (the label set); called once, before `prepare`."""

    def model_config(self) -> dict[str, Any]:
        """Config attributes the model needs for this task (num_labels, id2label, label2id)."""
        return {}

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        """Turn rows into examples: token ids and targets, one example per row, in row order."""
        raise NotImplementedError

    # --- training ---------------------------------------------------------------------------
    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Pad a list of examples into a model batch."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar loss; by default the model's own (its head computes it from `labels`)."""
        return model(**batch).loss

    # --- prediction and scores --------------------------------------------------------------
    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[Any]:
        """Predictions (labels, tag lists, answer strings, texts) of one batch, one per example."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, examples: list[dict[str, Any]], batch_size: int,
                device: torch.device | str = "cpu") -> list[Any]:
        """Predict every example, in order."""
        was_training = model.training
        model.eval()
        predictions: list[Any] = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = {k: v.to(device) for k, v in self.collate(chunk, torch.Generator()).items()}
            predictions.extend(self.predict_batch(model, chunk, batch))
        model.train(was_training)
        return predictions

    def score(self, ds: Any, predictions: list[Any]) -> dict[str, float]:
        """Metrics of `predictions` against the rows of `ds`."""
        raise NotImplementedError

    def record(self, row: dict[str, Any], prediction: Any) -> dict[str, Any]:
        """One line of predictions.jsonl: the example's own fields and the prediction."""
        return {**{k: v for k, v in row.items() if k != WHERE}, "prediction": prediction}

    # --- model ------------------------------------------------------------------------------
    def build_model(self, spec: str, seed: int, random_init: bool = False) -> torch.nn.Module:
        """The model to fine-tune: a preset or folder with this task's head."""
        from lmlearn.models.factory import load_model

        return load_model(spec, self.head, self.tokenizer, seed=seed, config_overrides=self.model_config(),
                          random_init=random_init)

    def save(self, model: torch.nn.Module, path: str | Path) -> None:
        """Save a folder that the head's `AutoModelFor*.from_pretrained` loads, atomically."""
        from lmlearn.models.factory import save_model

        save_model(model, self.tokenizer, path)


def where(row: dict[str, Any], what: str) -> str:
    """Where a row came from, for error messages."""
    return row.get(WHERE) or what


def check_text(value: Any, row: dict[str, Any], column: str, what: str) -> str:
    """A row's text field, or an error naming the file, line and column when it is empty."""
    if not isinstance(value, str) or not value.strip():
        raise LmlearnError(f"{where(row, what)}: column '{column}' is empty")
    return value
