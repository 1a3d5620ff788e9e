"""Documents and sentences, for objectives that need them (NSP, SOP, FULL-SENTENCES, sentence permutation).

A document is one row, or consecutive rows sharing a `document` column value; `--txt-unit
paragraph` makes each blank-line-separated paragraph of a .txt file a row, `--txt-unit file`
each file. Sentences are split at . ! ? (and their full-width forms) before whitespace, and at
newlines: Korean ends sentences with the same marks, so one rule serves both languages.
"""

from __future__ import annotations

import re
from typing import Any

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """Split English or Korean text into sentences (whitespace between them is dropped)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def documents(ds: Any, text_column: str = "text", document_column: str = "document") -> list[list[str]]:
    """Group rows into documents, each a list of sentences; empty documents are dropped."""
    docs: list[list[str]] = []
    last = object()
    has_column = document_column in ds.column_names
    for batch in ds.iter(batch_size=1000):
        keys = batch[document_column] if has_column else [None] * len(batch[text_column])
        for key, text in zip(keys, batch[text_column]):
            sentences = split_sentences(text)
            if has_column and key == last and docs:
                docs[-1].extend(sentences)
            elif sentences:
                docs.append(sentences)
            last = key
    return [d for d in docs if d]
