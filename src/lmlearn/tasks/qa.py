"""Extractive question answering (SQuAD, KorQuAD): the answer is a span of the context.

The standard recipe (BERT, and the Hugging Face `run_qa` example): the question and the context go in
as a pair; a context longer than --block-size is cut into windows that overlap by --doc-stride
tokens; the model predicts start and end positions, and a window without the answer points both at
its CLS token. A question's answer is the best span over all its windows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import torch

from lmlearn.config import option
from lmlearn.data.sources import WHERE, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.models.presets import FAMILIES
from lmlearn.tasks.base import Task, check_text, where
from lmlearn.tasks.batching import pad_inputs


@dataclass
class QAOptions:
    """Settings of the extractive QA task."""

    context_column: str = option("context", "column holding the passage (qa)")
    question_column: str = option("question", "column holding the question (qa)")
    answers_column: str = option("answers", "column holding {'text': [...], 'answer_start': [...]} (qa)")
    qa_rules: Literal["squad", "korquad"] = option(
        "squad", "EM/F1 normalisation: squad (English words, no articles) or korquad (F1 over characters) (qa)")
    doc_stride: int = option(64, "tokens shared by consecutive windows of a long context (qa)", range=">=0")
    max_answer_length: int = option(30, "longest answer predicted, in tokens (qa)", range=">=1")


def answer_lists(value: Any) -> tuple[list, list] | None:
    """(texts, starts) of an answers cell, HF squad style ({'text': [...], 'answer_start': [...]}) or a
    list of {'text', 'answer_start'} records as in the JSON files; None when it is neither."""
    if isinstance(value, dict) and isinstance(value.get("text"), list) and isinstance(value.get("answer_start"), list):
        return value["text"], value["answer_start"]
    if isinstance(value, list) and all(isinstance(a, dict) for a in value):
        return [a.get("text") for a in value], [a.get("answer_start") for a in value]
    return None


def read_squad(path: str, columns: tuple[str, str, str], report: ReadReport, on_bad_rows: Any) -> list[dict] | None:
    """One row per question of a SQuAD/KorQuAD JSON file ({"data": [{"paragraphs": [{"context", "qas"}]}]}),
    or None when the file has another layout."""
    with open(path, encoding="utf-8") as f:
        if not f.read(4096).lstrip().startswith("{"):
            return None
        f.seek(0)
        try:
            data = json.load(f)
        except json.JSONDecodeError:
            return None  # JSON lines, or broken JSON that the plain reader reports with its line
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not all(isinstance(a, dict) and "paragraphs" in a for a in articles):
        return None
    context_column, question_column, answers_column = columns
    rows = []
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"] or []):
            for q, qa in enumerate(paragraph.get("qas") or []):
                qid = str(qa.get("id", f"{a}.{p}.{q}"))
                place = f"{path}: question {qid}"
                if not paragraph.get("context") or not qa.get("question"):
                    report.bad(f"{place}: no {'context' if not paragraph.get('context') else 'question'}", on_bad_rows)
                    continue
                texts, starts = answer_lists(qa.get("answers") or []) or ([], [])
                rows.append({"id": qid, "title": str(article.get("title", "")), context_column: paragraph["context"],
                             question_column: qa["question"], answers_column: {"text": texts, "answer_start": starts},
                             WHERE: place})
    return rows


def answer_position(offsets: list[tuple[int, int] | None], span: tuple[int, int], cls: int) -> tuple[int, int]:
    """Start and end token of the character span in one window (offsets are None outside the context),
    or (cls, cls) when the window does not hold the whole answer."""
    context = [t for t, o in enumerate(offsets) if o is not None]
    begin, end = span
    if offsets[context[0]][0] > begin or offsets[context[-1]][1] < end:
        return cls, cls
    start = next(t for t in context if offsets[t][1] > begin)
    stop = next(t for t in reversed(context) if offsets[t][0] < end)
    return (start, stop) if start <= stop else (cls, cls)


class ExtractiveQA(Task):
    """Span extraction with a `*ForQuestionAnswering` model; examples are windows, predictions are per question."""

    name = "qa"
    head = "question-answering"
    families = FAMILIES
    Options = QAOptions
    metric = "f1"

    def columns(self) -> list[str]:
        return [self.cfg.context_column, self.cfg.question_column, self.cfg.answers_column]

    def read(self, spec: str, *, what: str, report: ReadReport) -> Any:
        """SQuAD/KorQuAD JSON files, or rows of any source."""
        import datasets

        rows = None
        if os.path.isfile(spec) and spec.lower().endswith(".json"):
            rows = read_squad(spec, (self.cfg.context_column, self.cfg.question_column, self.cfg.answers_column),
                              report, self.cfg.on_bad_rows)
            if rows == []:
                raise LmlearnError(f"{spec}: no questions in the SQuAD-style file")
        return datasets.Dataset.from_list(rows) if rows else super().read(spec, what=what, report=report)

    def tokenizer_texts(self, ds: Any) -> Iterator[str]:
        """Questions and contexts."""
        for batch in ds.iter(batch_size=1000):
            yield from batch[self.cfg.question_column]
            yield from batch[self.cfg.context_column]

    def _span(self, row: dict[str, Any], context: str, what: str) -> tuple[int, int]:
        """The character span of the row's first answer, after checking that every answer sits at its start."""
        place, column = where(row, what), self.cfg.answers_column
        answers = answer_lists(row[column])
        if not answers or not answers[0] or len(answers[0]) != len(answers[1]):
            raise LmlearnError(f"{place}: column '{column}' needs at least one answer as "
                               "{'text': [...], 'answer_start': [...]} (unanswerable questions are not supported)")
        for text, start in zip(*answers):
            found = context[start:start + len(text)] if isinstance(start, int) and isinstance(text, str) else None
            if not text or found != text:
                raise LmlearnError(f"{place}: answer {text!r} is not at answer_start {start} of the context "
                                   f"(found {found!r}); fix answer_start")
        return answers[1][0], answers[1][0] + len(answers[0][0])

    def _check_room(self, questions: list[str], rows: list[dict[str, Any]], what: str) -> None:
        """Fail, naming the row, when a question leaves no more than --doc-stride tokens for the context."""
        cfg = self.cfg
        if cfg.max_answer_length < 1 or cfg.doc_stride < 0:
            raise LmlearnError("--max-answer-length must be at least 1 and --doc-stride at least 0")
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        for ids, row in zip(self.tokenizer(questions, add_special_tokens=False)["input_ids"], rows):
            room = cfg.block_size - specials - len(ids)
            if room <= cfg.doc_stride:  # the tokenizer would panic cutting the context into windows
                raise LmlearnError(f"{where(row, what)}: the question takes {len(ids)} tokens, leaving {room} of "
                                   f"--block-size {cfg.block_size} for the context, not more than --doc-stride "
                                   f"{cfg.doc_stride}; raise --block-size or lower --doc-stride")

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        if not getattr(self.tokenizer, "is_fast", False):
            raise LmlearnError("the qa task needs a fast tokenizer (one that reports character offsets)")
        cfg, rows = self.cfg, list(ds)
        contexts = [check_text(r[cfg.context_column], r, cfg.context_column, what) for r in rows]
        # Leading spaces only waste window room (the Hugging Face example strips them too).
        questions = [check_text(r[cfg.question_column], r, cfg.question_column, what).lstrip() for r in rows]
        spans = [self._span(r, c, what) for r, c in zip(rows, contexts)]
        self._check_room(questions, rows, what)
        encoded = self.tokenizer(questions, contexts, truncation="only_second", max_length=cfg.block_size,
                                 stride=cfg.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        cls_id = self.tokenizer.cls_token_id
        examples = []
        for i, ids in enumerate(encoded["input_ids"]):
            row = encoded["overflow_to_sample_mapping"][i]
            offsets = [tuple(o) if s == 1 else None
                       for o, s in zip(encoded["offset_mapping"][i], encoded.sequence_ids(i))]
            # Decoder-only families have no CLS; their first token stands in for "no answer here".
            start, end = answer_position(offsets, spans[row], ids.index(cls_id) if cls_id in ids else 0)
            example = {"input_ids": ids, "start_positions": start, "end_positions": end, "row": row,
                       "offsets": offsets, "context": contexts[row]}
            if "token_type_ids" in encoded:
                example["token_type_ids"] = encoded["token_type_ids"][i]
            examples.append(example)
        return examples

    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_inputs(examples, self.tokenizer.pad_token_id)
        batch["start_positions"] = torch.tensor([e["start_positions"] for e in examples])
        batch["end_positions"] = torch.tensor([e["end_positions"] for e in examples])
        return batch

    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[tuple[float, str]]:
        """(score, answer) of each window: the context span with the highest start + end logit whose
        start is not after its end and which is at most --max-answer-length tokens long."""
        out = model(**{k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")})
        start, end = out.start_logits.float().cpu(), out.end_logits.float().cpu()
        length = start.size(1)
        context = torch.zeros(start.shape, dtype=torch.bool)
        for i, e in enumerate(examples):
            context[i, :len(e["offsets"])] = torch.tensor([o is not None for o in e["offsets"]])
        pos = torch.arange(length)
        width = pos[None, :] - pos[:, None]  # [s, e] -> e - s
        allowed = (width >= 0) & (width < self.cfg.max_answer_length)
        valid = allowed[None] & context[:, :, None] & context[:, None, :]
        scores = (start[:, :, None] + end[:, None, :]).masked_fill(~valid, float("-inf")).flatten(1)
        best, flat = scores.max(1)
        results = []
        for e, score, index in zip(examples, best.tolist(), flat.tolist()):
            s, t = divmod(index, length)
            results.append((score, e["context"][e["offsets"][s][0]:e["offsets"][t][1]].strip()))
        return results

    def predict(self, model: torch.nn.Module, examples: list[dict[str, Any]], batch_size: int,
                device: torch.device | str = "cpu") -> list[str]:
        """One answer per question (row), in row order: the best-scoring span over its windows."""
        best: dict[int, tuple[float, str]] = {}
        for e, (score, answer) in zip(examples, super().predict(model, examples, batch_size, device)):
            if e["row"] not in best or score > best[e["row"]][0]:
                best[e["row"]] = (score, answer)
        return [answer for _, answer in best.values()]

    def score(self, ds: Any, predictions: list[str]) -> dict[str, float]:
        from lmlearn.tasks.metrics import squad_scores

        golds = [(answer_lists(a) or ([], []))[0] for a in ds[self.cfg.answers_column]]
        return squad_scores(predictions, golds, rules=self.cfg.qa_rules)
