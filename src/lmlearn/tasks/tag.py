"""Token classification with BIO tags (NER): every input unit, a word or (KLUE) a character, gets a tag.

The text is tokenized with character offsets. The first sub-word of a unit is trained on the unit's
tag and the others are ignored (-100), the Hugging Face recipe; at prediction every unit gets a tag
back from the token that covers it, so scores are over the units the data gave (KLUE-NER reports
entity F1 over characters). Data is JSON rows with token and tag lists, or CoNLL-style files.
"""

from __future__ import annotations

import bisect
import glob
import os
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import torch

from lmlearn.config import option
from lmlearn.data.sources import WHERE, BadRows, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.families import TOKEN_CLASSIFIERS
from lmlearn.tasks.base import Task, where
from lmlearn.data.blocks import pad_rows
from lmlearn.tasks.batching import pad_inputs
from lmlearn.tasks.labels import LabelSet

CONLL_EXTENSIONS = (".conll", ".bio")


@dataclass
class TagOptions:
    """Settings of the tagging task."""

    tokens_column: str = option("tokens", "column holding a sentence's units, a list (tag)")
    tags_column: str = option("tags", "column holding one BIO tag per unit, a list (tag)")
    tag_level: Literal["word", "char"] = option(
        "word", "what a unit is: word (the text is the units joined by spaces) or char (KLUE-NER: the "
                "units, spaces included, concatenated) (tag)")


def is_bio(tag: str) -> bool:
    """Whether `tag` is O, B-TYPE or I-TYPE."""
    return tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)


def _is_comment(line: str) -> bool:
    # KLUE-NER starts each sentence with a "## id<TAB>annotated text" line; CoNLL-2003 separates
    # documents with -DOCSTART- lines.
    return line.startswith(("##", "-DOCSTART-"))


def is_conll(path: str) -> bool:
    """Whether a file holds one `unit<TAB>tag` per line: by extension, or (.tsv, .txt) by its first unit line."""
    ext = os.path.splitext(path)[1].lower()
    if ext in CONLL_EXTENSIONS:
        return True
    if ext not in (".tsv", ".txt"):
        return False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.strip() and not _is_comment(line):
                fields = line.split("\t")
                return len(fields) >= 2 and is_bio(fields[-1])  # a header's last field is not a tag
    return False


def read_conll(path: str, report: ReadReport, on_bad_rows: BadRows) -> Iterator[tuple[str, list[str], list[str]]]:
    """(file:line of its first unit, units, tags) of each sentence: the first and last tab-separated
    fields of each line, blank lines between sentences, `##` comments. A malformed line drops its sentence."""
    def sentence(lines: list[tuple[int, str]]) -> tuple[str, list[str], list[str]] | None:
        units, tags = [], []
        for lineno, line in lines:
            fields = line.split("\t")
            if len(fields) < 2 or not fields[0] or not is_bio(fields[-1]):
                report.bad(f"{path}:{lineno}: expected 'unit<TAB>tag' with an O, B- or I- tag, got {line!r}",
                           on_bad_rows)
                return None
            units.append(fields[0])
            tags.append(fields[-1])
        return f"{path}:{lines[0][0]}", units, tags

    lines: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")  # not strip(): KLUE's space units are lines " <TAB>O"
            if _is_comment(line):
                continue
            if line.strip():
                lines.append((lineno, line))
                continue
            if lines and (found := sentence(lines)):
                yield found
            lines = []
    if lines and (found := sentence(lines)):
        yield found


def layout(units: list[str], level: str) -> tuple[str, list[int]]:
    """The text of a sentence's units and each unit's first character in it."""
    sep = " " if level == "word" else ""
    starts, pos = [], 0
    for unit in units:
        starts.append(pos)
        pos += len(unit) + len(sep)
    return sep.join(units), starts


def align(text: str, starts: list[int], offsets: list[tuple[int, int]]) -> tuple[list[int], list[bool]]:
    """For each unit, the token covering its start (-1: none) and whether it is that token's first unit.

    A token covers the units that start inside its span, after any leading whitespace (byte-level BPE
    and SentencePiece tokens carry the space before a word). Special tokens have empty spans.
    """
    cover, first = [-1] * len(starts), [False] * len(starts)
    for t, (s, e) in enumerate(offsets):
        if s >= e:
            continue
        lead = s
        while lead < e and text[lead].isspace():
            lead += 1
        lo = bisect.bisect_left(starts, s if lead == e else lead)
        for u in range(lo, bisect.bisect_left(starts, e)):
            if cover[u] == -1:  # two tokens share the span of one character split into bytes
                cover[u], first[u] = t, u == lo
    return cover, first


def _inside(tag: str) -> str:
    return "I-" + tag[2:] if tag.startswith("B-") else tag


def unit_tags(token_tags: list[str], cover: list[int], first: list[bool]) -> list[str]:
    """One tag per unit from the tokens' tags: a token's first unit takes its tag, its later units the
    I- of it (B-PS over two characters gives B-PS, I-PS). A unit no token covers (a space before a
    word, a unit cut off at --block-size) is I-X between two parts of one X entity, O otherwise."""
    tags: list[str | None] = [None if t < 0 else token_tags[t] if f else _inside(token_tags[t])
                              for t, f in zip(cover, first)]
    u = 0
    while u < len(tags):
        if tags[u] is not None:
            u += 1
            continue
        end = u
        while end < len(tags) and tags[end] is None:
            end += 1
        before, after = tags[u - 1] if u else None, tags[end] if end < len(tags) else None
        inside = before not in (None, "O") and after == "I-" + before[2:]
        tags[u:end] = [after if inside else "O"] * (end - u)
        u = end
    return tags


class Tag(Task):
    """BIO tagging of words or characters with a `*ForTokenClassification` model.

    Units beyond --block-size tokens are not seen by the model and are predicted O.
    """

    name = "tag"
    head = "token-classification"
    families = TOKEN_CLASSIFIERS  # transformers has no BART token classifier
    Options = TagOptions
    metric = "entity_f1"
    labels: LabelSet

    def columns(self) -> list[str]:
        return [self.cfg.tokens_column, self.cfg.tags_column]

    def read(self, spec: str, *, what: str, report: ReadReport) -> Any:
        """JSON rows with unit and tag lists (any source), or CoNLL files (.conll, .bio, or .tsv/.txt
        whose first line is `unit<TAB>TAG`)."""
        import datasets

        files = sorted(glob.glob(spec)) if any(ch in spec for ch in "*?[") else [spec]
        if files and all(os.path.isfile(p) and is_conll(p) for p in files):
            sentences = [s for p in files for s in read_conll(p, report, self.cfg.on_bad_rows)]
            if not sentences:
                raise LmlearnError(f"{spec}: no sentences (units are 'unit<TAB>tag' lines, sentences end "
                                   "at a blank line)")
            where_, units, tags = zip(*sentences)
            ds = datasets.Dataset.from_dict({self.cfg.tokens_column: list(units), self.cfg.tags_column: list(tags),
                                             WHERE: list(where_)})
        else:
            ds = _tag_names(super().read(spec, what=what, report=report), self.cfg.tags_column)
        return ds

    def tokenizer_texts(self, ds: Any) -> Iterator[str]:
        """The sentences as the model reads them."""
        for units in ds[self.cfg.tokens_column]:
            if isinstance(units, list):
                yield layout([str(u) for u in units], self.cfg.tag_level)[0]

    def fit(self, train_ds: Any) -> None:
        self.labels = LabelSet(t for tags in train_ds[self.cfg.tags_column] if isinstance(tags, list) for t in tags)

    def model_config(self) -> dict[str, Any]:
        return self.labels.model_config()

    def _tag_ids(self, row: dict[str, Any], what: str) -> list[int]:
        """The row's tag ids, or an error naming the row for an empty sentence or a bad or unseen tag."""
        place, units_column, tags_column = where(row, what), self.cfg.tokens_column, self.cfg.tags_column
        units, tags = row[units_column], row[tags_column]
        if not isinstance(units, list) or not units:
            raise LmlearnError(f"{place}: column '{units_column}' is empty; a sentence needs at least one unit")
        if not isinstance(tags, list) or len(tags) != len(units):
            count = len(tags) if isinstance(tags, list) else 0
            raise LmlearnError(f"{place}: {len(units)} units in '{units_column}' but {count} tags in "
                               f"'{tags_column}'; give one tag per unit")
        for i, (unit, tag) in enumerate(zip(units, tags), 1):
            if not isinstance(unit, str) or not unit:
                raise LmlearnError(f"{place}: unit {i} of '{units_column}' is empty")
            if not is_bio(str(tag)):
                raise LmlearnError(f"{place}: tag {tag!r} of unit {i} is not a BIO tag (O, B-TYPE or I-TYPE)")
        return [self.labels.encode(tag, place, f"tag of unit {i}") for i, tag in enumerate(tags, 1)]

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        if not getattr(self.tokenizer, "is_fast", False):
            raise LmlearnError("the tag task needs a fast tokenizer (one that reports character offsets)")
        tag_ids = [self._tag_ids(row, what) for row in ds]
        texts, starts = zip(*(layout(units, self.cfg.tag_level) for units in ds[self.cfg.tokens_column]))
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.cfg.block_size,
                                 return_offsets_mapping=True)
        keys = [k for k in ("input_ids", "token_type_ids") if k in encoded]
        examples = []
        for i, ids in enumerate(tag_ids):
            offsets = encoded["offset_mapping"][i]
            cover, first = align(texts[i], starts[i], offsets)
            labels = [-100] * len(offsets)
            for u, (t, f) in enumerate(zip(cover, first)):
                if f:
                    labels[t] = ids[u]
            examples.append({**{k: encoded[k][i] for k in keys}, "labels": labels, "cover": cover, "first": first})
        return examples

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_inputs(examples, self.tokenizer.pad_token_id)
        batch["labels"] = pad_rows([e["labels"] for e in examples], -100)
        return batch

    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[list[str]]:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        names = self.labels.names
        return [unit_tags([names[j] for j in row], e["cover"], e["first"])
                for e, row in zip(examples, logits.argmax(-1).tolist())]

    def score(self, ds: Any, predictions: list[list[str]]) -> dict[str, float]:
        from lmlearn.tasks.metrics import entity_scores

        return entity_scores(predictions, [[str(t) for t in tags] for tags in ds[self.cfg.tags_column]])


def _tag_names(ds: Any, column: str) -> Any:
    """Tags stored as class ids (a saved Hugging Face dataset's ClassLabel) as their names."""
    import datasets

    feature = ds.features.get(column)
    inner = getattr(feature, "feature", None)
    if not isinstance(inner, datasets.ClassLabel):
        return ds
    names = inner.names
    return ds.map(lambda b: {column: [[names[i] for i in tags] for tags in b[column]]}, batched=True,
                  features=datasets.Features({**ds.features, column: datasets.List(datasets.Value("string"))}))
