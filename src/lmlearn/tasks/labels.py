"""The label set of a classification or tagging task, read from the training data."""

from __future__ import annotations

from typing import Any, Iterable

from lmlearn.errors import LmlearnError


def _order(label: str) -> tuple[int, float | str]:
    """Numbers in numeric order first ("2" before "10"), then names alphabetically."""
    try:
        return 0, float(label)
    except ValueError:
        return 1, label


class LabelSet:
    """Label names and their ids; ids follow a sorted order, so the same data gives the same ids."""

    def __init__(self, names: Iterable[Any]):
        self.names = sorted({str(n) for n in names}, key=_order)
        self.ids = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, value: Any, where: str, column: str) -> int:
        """The id of `value`, or an error naming the row when training never saw it."""
        label = str(value)
        if label not in self.ids:
            shown = ", ".join(self.names[:20]) + (" …" if len(self.names) > 20 else "")
            raise LmlearnError(f"{where}: {column} '{label}' never occurs in the training data "
                               f"(training labels: {shown})")
        return self.ids[label]

    def model_config(self) -> dict[str, Any]:
        """num_labels, id2label and label2id, as transformers configs hold them."""
        return {"num_labels": len(self.names), "id2label": dict(enumerate(self.names)),
                "label2id": dict(self.ids)}
