"""Regression: one text or a pair of texts -> a number (STS-B and KLUE-STS similarity scores, ratings).
The model is the family's `*ForSequenceClassification` with one output and `problem_type` regression, so
transformers' head trains it with the mean squared error and the folder loads anywhere as such."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.models.presets import FAMILIES
from lmlearn.tasks.base import Task, check_text, where
from lmlearn.tasks.batching import pad_inputs


@dataclass
class RegressOptions:
    """Settings of the regression task."""

    label_scale: float = option(1.0, "regress: divide the targets by this while training (e.g. 5 for 0-5 "
                                     "similarity scores); predictions are scaled back", range=">0")


class Regress(Task):
    """Sequence regression of one text, or of a pair when the data has --text-pair-column."""

    name = "regress"
    head = "sequence-classification"
    families = FAMILIES
    Options = RegressOptions
    metric = "pearson"
    pair = False

    def columns(self) -> list[str]:
        return [self.cfg.text_column, self.cfg.label_column]

    def fit(self, train_ds: Any) -> None:
        self.pair = self.cfg.text_pair_column in train_ds.column_names  # STS data: two sentences and a score

    def text_columns(self) -> list[str]:
        return [self.cfg.text_column] + ([self.cfg.text_pair_column] if self.pair else [])

    def model_config(self) -> dict[str, Any]:
        return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "score"}, "label2id": {"score": 0}}

    def target(self, row: dict[str, Any], what: str) -> float:
        """The row's number, scaled; an error naming the file and line when it is not one."""
        value = row[self.cfg.label_column]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise LmlearnError(f"{where(row, what)}: {self.cfg.label_column} value {value!r} is not a number "
                               "(--task regress predicts a number; use --task classify for classes)")
        return number / self.cfg.label_scale

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        columns = self.text_columns()
        missing = [c for c in columns if c not in ds.column_names]
        if missing:
            raise LmlearnError(f"{what}: no column '{missing[0]}' (the training data has it; columns: "
                               f"{', '.join(c for c in ds.column_names if not c.startswith('_'))})")
        texts = [[check_text(row[c], row, c, what) for c in columns] for row in ds]
        targets = [self.target(row, what) for row in ds]
        encoded = self.tokenizer(*zip(*texts), truncation=True, max_length=self.cfg.block_size)
        keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
        return [{**{k: encoded[k][i] for k in keys}, "label": y} for i, y in enumerate(targets)]

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_inputs(examples, self.tokenizer.pad_token_id)
        batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=torch.float32)
        return batch

    def step(self, models: Any, batch: dict[str, torch.Tensor]) -> Any:
        """The head's mean squared error over the batch's texts (on the scaled targets)."""
        from lmlearn.engine.method import StepOutput

        loss = models.model(**batch).loss if type(self).loss is Task.loss else self.loss(models.model, batch)
        return StepOutput(loss, batch["labels"].numel())

    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[float]:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return [v * self.cfg.label_scale for v in logits[:, 0].float().tolist()]

    def score(self, ds: Any, predictions: list[float]) -> dict[str, float]:
        from lmlearn.tasks.metrics import regression_scores

        return regression_scores(predictions, [float(v) for v in ds[self.cfg.label_column]])
