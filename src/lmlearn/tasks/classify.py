"""Text classification: one text, one label (sentiment, topic). The label set is read from the
training data; the model is the family's `*ForSequenceClassification` (a head on [CLS], or on the
last token for decoder-only models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lmlearn.config import option
from lmlearn.models.presets import FAMILIES
from lmlearn.tasks.base import Task, check_text, where
from lmlearn.tasks.batching import pad_inputs
from lmlearn.tasks.labels import LabelSet


@dataclass
class ClassifyOptions:
    """Settings of the classification tasks."""

    label_column: str = option("label", "column holding the label (classify, pair, tag)")


class Classify(Task):
    """Sequence classification of one text."""

    name = "classify"
    head = "sequence-classification"
    families = FAMILIES
    Options = ClassifyOptions
    metric = "accuracy"
    labels: LabelSet

    def text_columns(self) -> list[str]:
        """The text columns, in the order the model reads them."""
        return [self.cfg.text_column]

    def columns(self) -> list[str]:
        return [*self.text_columns(), self.cfg.label_column]

    def fit(self, train_ds: Any) -> None:
        self.labels = LabelSet(train_ds[self.cfg.label_column])

    def model_config(self) -> dict[str, Any]:
        return self.labels.model_config()

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        label_column = self.cfg.label_column
        encoded = self.encode_texts(ds, what=what)
        labels = [self.labels.encode(row[label_column], where(row, what), f"{label_column} value") for row in ds]
        return [{**e, "label": label} for e, label in zip(encoded, labels)]

    def encode_texts(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        """Each row's text columns, checked and tokenized (input_ids, and token_type_ids where the family has
        them); one tokenizer call for all rows, which the fast tokenizer batches in Rust."""
        columns = self.text_columns()
        return self.tokenize([[check_text(row[c], row, c, what) for c in columns] for row in ds])

    def tokenize(self, texts: list[list[str]]) -> list[dict[str, Any]]:
        """Each row's texts (one, or a pair) tokenized together, truncated to --block-size."""
        encoded = self.tokenizer(*zip(*texts), truncation=True, max_length=self.cfg.block_size)
        keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
        return [{k: encoded[k][i] for k in keys} for i in range(len(texts))]

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_inputs(examples, self.tokenizer.pad_token_id)
        batch["labels"] = torch.tensor([e["label"] for e in examples])
        return batch

    def step(self, models: Any, batch: dict[str, torch.Tensor]) -> Any:
        """The head's cross-entropy, averaged over the batch's texts, and their accuracy as a named metric
        (logged, and what --early-stopping-metric accuracy watches)."""
        from lmlearn.engine.method import StepOutput

        out = models.model(**batch)
        labels = batch["labels"]
        accuracy = (out.logits.detach().argmax(-1) == labels).float().mean()
        # a subclass with its own loss (class weights, say) keeps it; the head's loss is the default
        loss = out.loss if type(self).loss is Task.loss else self.loss(models.model, batch)
        return StepOutput(loss, labels.numel(), {"accuracy": accuracy})

    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[str]:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        return [self.labels.names[i] for i in logits.argmax(-1).tolist()]

    def score(self, ds: Any, predictions: list[str]) -> dict[str, float]:
        from lmlearn.tasks.metrics import classification_scores

        return classification_scores(predictions, [str(v) for v in ds[self.cfg.label_column]])

    def record(self, row: dict[str, Any], prediction: Any) -> dict[str, Any]:
        """The row, the prediction, and `acc` (1.0 when it is the row's label): each line scores itself whatever
        the label column is called, so `lmlearn paired` and `compare` read KorNLI's gold_label as NSMC's label."""
        correct = str(row.get(self.cfg.label_column)) == str(prediction)
        return {**super().record(row, prediction), "acc": float(correct)}
