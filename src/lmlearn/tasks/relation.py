"""Relation extraction, KLUE-RE's way: a sentence, a subject and an object entity (their spans and types),
-> the relation the sentence states between them (or no_relation).

The entities are marked in the text with typed entity markers made of punctuation (Zhou and Chen 2021,
"An Improved Baseline for Sentence-level Relation Extraction"): "@ * PER * Minjun @ lives in # ^ LOC ^
Busan #". The markers are ordinary characters, so no token is added and any tokenizer and checkpoint
reads them; the model is the family's `*ForSequenceClassification` over the marked sentence. The
score is KLUE-RE's micro-F1 over the relations other than no_relation, with accuracy and macro-F1.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any, Iterator

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.tasks.base import check_text, where
from lmlearn.tasks.classify import Classify

NO_RELATION = "no_relation"


@dataclass
class RelationOptions:
    """Settings of the relation-extraction task."""

    subject_column: str = option("subject_entity", "relation: column of the subject ({word, start_idx, end_idx, "
                                                   "type}, end inclusive, as KLUE-RE)")
    object_column: str = option("object_entity", "relation: column of the object (the same fields)")


def mark(sentence: str, subject: dict[str, Any], obj: dict[str, Any]) -> str:
    """The sentence with typed entity markers around its two entities: @ * TYPE * subject @, # ^ TYPE ^ object #."""
    spans = sorted([(subject, "@", "*"), (obj, "#", "^")], key=lambda s: int(s[0]["start_idx"]))
    out, at = [], 0
    for entity, outer, inner in spans:
        start, end = int(entity["start_idx"]), int(entity["end_idx"]) + 1
        out += [sentence[at:start], f"{outer} {inner} {entity['type']} {inner} {sentence[start:end]} {outer}"]
        at = end
    return "".join(out + [sentence[at:]])


class Relation(Classify):
    """Sequence classification of a sentence whose two entities are marked."""

    name = "relation"
    Options = RelationOptions
    metric = "micro_f1"

    def columns(self) -> list[str]:
        return [self.cfg.text_column, self.cfg.subject_column, self.cfg.object_column, self.cfg.label_column]

    def entity(self, row: dict[str, Any], column: str, what: str) -> dict[str, Any]:
        """The entity of `column`: a mapping, or its JSON / Python-literal text (KLUE-RE's CSV dumps); its span
        must hold its word. Anything else is named by file and line."""
        value = row[column]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                try:
                    value = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    pass
        fields = ("word", "start_idx", "end_idx", "type")
        if not isinstance(value, dict) or any(k not in value for k in fields):
            raise LmlearnError(f"{where(row, what)}: {column} must hold {', '.join(fields)} (KLUE-RE's layout); "
                               f"got {str(row[column])[:80]!r}")
        sentence = row[self.cfg.text_column]
        start, end = int(value["start_idx"]), int(value["end_idx"])
        if sentence[start:end + 1] != value["word"]:
            raise LmlearnError(f"{where(row, what)}: {column} span {start}-{end} is {sentence[start:end + 1]!r}, "
                               f"not its word {value['word']!r} (end_idx is inclusive, as KLUE-RE)")
        return value

    def marked(self, row: dict[str, Any], what: str) -> str:
        """The row's sentence with its entities marked."""
        sentence = check_text(row[self.cfg.text_column], row, self.cfg.text_column, what)
        return mark(sentence, self.entity(row, self.cfg.subject_column, what),
                    self.entity(row, self.cfg.object_column, what))

    def tokenizer_texts(self, ds: Any) -> Iterator[str]:
        # a tokenizer trained here sees the markers, so @ and # do not both become [UNK]
        return (self.marked(row, "training data") for row in ds)

    def encode_texts(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        return self.tokenize([[self.marked(row, what)] for row in ds])

    def score(self, ds: Any, predictions: list[str]) -> dict[str, float]:
        from sklearn.metrics import f1_score

        references = [str(v) for v in ds[self.cfg.label_column]]
        scores = super().score(ds, predictions)
        relations = [name for name in self.labels.names if name != NO_RELATION]
        scores["micro_f1"] = float(f1_score(references, predictions, labels=relations, average="micro",
                                            zero_division=0))
        return scores
