"""Multi-label classification: one text -> any number of labels (the topics of an article, the emotions
of a comment). The model is the family's `*ForSequenceClassification` with `problem_type`
multi_label_classification, so transformers' head trains each label as its own yes/no (a sigmoid and
binary cross-entropy) and the folder loads anywhere as such. A label is predicted when its probability
reaches its threshold: one for all, or one per label; the thresholds are saved in the model's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.tasks.base import Task, where
from lmlearn.tasks.classify import Classify
from lmlearn.tasks.labels import LabelSet


@dataclass
class MultiLabelOptions:
    """Settings of the multi-label task."""

    label_separator: str = option("|", "multilabel: what separates the labels in a text label column (a JSON "
                                       "list needs none; an empty value is no label)")
    threshold: float = option(0.5, "multilabel: predict a label when its probability reaches this", range="(0, 1)")
    label_thresholds: str = option("", "multilabel: per-label thresholds overriding --threshold, e.g. "
                                       "'sports=0.3,politics=0.6'")


class MultiLabel(Classify):
    """Sequence classification with a set of labels per text."""

    name = "multilabel"
    Options = MultiLabelOptions
    metric = "micro_f1"

    def label_list(self, row: dict[str, Any], what: str) -> list[str]:
        """The row's labels: a list as it is, a string split at --label-separator; anything else named by line."""
        value = row[self.cfg.label_column]
        if isinstance(value, str):
            return [part.strip() for part in value.split(self.cfg.label_separator) if part.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value]
        raise LmlearnError(f"{where(row, what)}: {self.cfg.label_column} value {value!r} is not a list of labels "
                           f"nor a string of labels separated by {self.cfg.label_separator!r}")

    def fit(self, train_ds: Any) -> None:
        rows = list(train_ds)
        self.labels = LabelSet(label for row in rows for label in self.label_list(row, "training data"))
        if not len(self.labels):
            raise LmlearnError(f"the training data's {self.cfg.label_column} column holds no labels")
        self.thresholds = self._thresholds()

    def _thresholds(self) -> list[float]:
        chosen = [self.cfg.threshold] * len(self.labels)
        for item in (p.strip() for p in self.cfg.label_thresholds.split(",") if p.strip()):
            name, _, value = item.rpartition("=")
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if name not in self.labels.ids or not 0 < number < 1:
                raise LmlearnError(f"--label-thresholds {item!r}: give LABEL=P with a training label and 0 < P < 1 "
                                   f"(labels: {', '.join(self.labels.names[:20])})")
            chosen[self.labels.ids[name]] = number
        return chosen

    def model_config(self) -> dict[str, Any]:
        # label_thresholds rides in config.json, so whoever loads the folder predicts as this run did
        return {**self.labels.model_config(), "problem_type": "multi_label_classification",
                "label_thresholds": dict(zip(self.labels.names, self.thresholds))}

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        encoded = self.encode_texts(ds, what=what)
        targets = []
        for row in ds:
            ids = {self.labels.encode(v, where(row, what), f"{self.cfg.label_column} value")
                   for v in self.label_list(row, what)}
            targets.append([1.0 if i in ids else 0.0 for i in range(len(self.labels))])
        return [{**e, "label": y} for e, y in zip(encoded, targets)]

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = Classify.collate(self, examples, generator)
        batch["labels"] = batch["labels"].float()  # multi-hot rows: the head's BCE wants floats
        return batch

    def step(self, models: Any, batch: dict[str, torch.Tensor]) -> Any:
        """The head's binary cross-entropy over every (text, label), and as `accuracy` the share of texts
        whose whole label set is predicted exactly (what --early-stopping-metric accuracy watches)."""
        from lmlearn.engine.method import StepOutput

        out = models.model(**batch)
        labels = batch["labels"]
        exact = (self.chosen(out.logits.detach()) == labels.bool()).all(-1)
        loss = out.loss if type(self).loss is Task.loss else self.loss(models.model, batch)
        return StepOutput(loss, labels.shape[0], {"accuracy": exact.float().mean()})

    def chosen(self, logits: torch.Tensor) -> torch.Tensor:
        """Which labels each row predicts: its probability reaches the label's threshold."""
        logits = logits.float()
        return logits.sigmoid() >= torch.tensor(self.thresholds, dtype=logits.dtype, device=logits.device)

    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[list[str]]:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return [[self.labels.names[i] for i, on in enumerate(row) if on] for row in self.chosen(logits).tolist()]

    def score(self, ds: Any, predictions: list[list[str]]) -> dict[str, float]:
        from lmlearn.tasks.metrics import multilabel_scores

        references = [self.label_list(row, "evaluation data") for row in ds]
        return multilabel_scores(predictions, references, self.labels.names)

    def record(self, row: dict[str, Any], prediction: Any) -> dict[str, Any]:
        """The row, the predicted labels, and `acc` (1.0 when they are exactly the row's labels)."""
        exact = sorted(self.label_list(row, "evaluation data")) == sorted(prediction)
        return {**Task.record(self, row, prediction), "acc": float(exact)}
