"""Text-to-text generation (summarization, translation, any task written as text in, text out) with an
encoder-decoder (BART, T5), alone or as a multi-task mixture (`--mixture`, see tasks/mixture.py).

The model reads the source, after an optional T5-style task prefix ("summarize: "), and learns the
target tokens with teacher forcing; at test time it generates (greedy unless --num-beams) and the
outputs are scored with ROUGE (rouge-score), BLEU and chrF (sacrebleu), or exact-match accuracy for
labels written as words. The headline is the first of --seq2seq-metrics (rougeL, bleu, chrf or
accuracy); for a mixture it is `average`, the mean over tasks of each task's own headline in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch

from lmlearn.config import option
from lmlearn.data.sources import WHERE, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.families import ENCODER_DECODERS
from lmlearn.tasks.base import Task, check_text
from lmlearn.data.blocks import pad_rows
from lmlearn.tasks.batching import pad_inputs
from lmlearn.tasks.mixture import MixtureTask, load_mixture, read_mixture

# A metric name of --seq2seq-metrics -> the score it makes the headline.
TEXT_METRICS = {"rouge": "rougeL", "bleu": "bleu", "chrf": "chrf", "accuracy": "accuracy"}


@dataclass
class Seq2SeqOptions:
    """Settings of the text-to-text task."""

    source_column: str = option("source", "column holding the input text (seq2seq)")
    target_column: str = option("target", "column holding the output text (seq2seq)")
    source_prefix: str = option("", "text put before every source, T5's task prefix such as 'summarize: ' (seq2seq)")
    max_target_length: int = option(64, "target tokens kept for training and the most tokens generated (seq2seq)",
                                    range=">=1")
    num_beams: int = option(1, "beams of the generation search; 1 is greedy decoding (seq2seq)", range=">=1")
    seq2seq_metrics: str = option("rouge,bleu", "comma-separated scores of the generated text: rouge, bleu, "
                                                "chrf, accuracy; the first is the headline (seq2seq)")


def parse_metrics(spec: str, where: str) -> list[str]:
    """The metric names of a comma-separated list, or an error naming `where` and the valid names."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    bad = [n for n in names if n not in TEXT_METRICS] or ([] if names else [spec])
    if bad:
        raise LmlearnError(f"{where}: unknown metric '{bad[0]}'; use a comma-separated list of "
                           f"{', '.join(TEXT_METRICS)}")
    return names


def _words(text: str) -> str:
    return " ".join(text.split())


def text_scores(predictions: list[str], references: list[str], names: list[str]) -> dict[str, float]:
    """The scores `names` ask for (BLEU and chrF come from one sacrebleu pass)."""
    from lmlearn.tasks.metrics import bleu_chrf, classification_scores, rouge_scores

    def accuracy(preds: list[str], refs: list[str]) -> dict[str, float]:
        # Exact match of the whole text, blind to spacing a tokenizer may not round-trip.
        return classification_scores([_words(p) for p in preds], [_words(r) for r in refs])

    functions = {"rouge": rouge_scores, "bleu": bleu_chrf, "chrf": bleu_chrf, "accuracy": accuracy}
    scores: dict[str, float] = {}
    for fn in dict.fromkeys(functions[n] for n in names):
        scores.update(fn(predictions, references))
    return scores


def _percent(scores: dict[str, float], name: str) -> float:
    """A headline score on the 0-100 scale of ROUGE and BLEU (accuracy is a fraction)."""
    value = scores[TEXT_METRICS[name]]
    return 100.0 * value if name == "accuracy" else value


class Seq2Seq(Task):
    """Text-to-text generation with an encoder-decoder."""

    name = "seq2seq"
    head = "seq2seq-lm"
    families = ENCODER_DECODERS
    Options = Seq2SeqOptions
    metric = "rougeL"
    mixture: list[MixtureTask] | None = None

    def __init__(self, cfg: Any, tokenizer: Any = None):
        super().__init__(cfg, tokenizer)
        for flag, value in (("--max-target-length", cfg.max_target_length), ("--num-beams", cfg.num_beams)):
            if value < 1:
                raise LmlearnError(f"{flag} must be at least 1, got {value}")
        self.metrics = parse_metrics(cfg.seq2seq_metrics, "--seq2seq-metrics")
        self.metric = TEXT_METRICS[self.metrics[0]]
        if cfg.mixture:
            if cfg.eval_data:
                raise LmlearnError(f"--eval-data does not apply with --mixture; give each task of {cfg.mixture} "
                                   "its own eval_data")
            self.mixture = load_mixture(cfg.mixture, cfg)
            self.task_metrics = {
                t.name: parse_metrics(t.metrics or ("accuracy" if t.target_map else cfg.seq2seq_metrics),
                                      t.at("metrics"))
                for t in self.mixture}
            self.metric = "average"

    # --- data -------------------------------------------------------------------------------
    def _layout(self) -> tuple[str, str, str]:
        """Source column, target column and prefix of the rows `read` gives."""
        if self.mixture:
            return "source", "target", ""  # mixture rows are normalised, their prefix already applied
        return self.cfg.source_column, self.cfg.target_column, self.cfg.source_prefix

    def columns(self) -> list[str]:
        return [self.cfg.source_column, self.cfg.target_column]

    def read_mixture(self, *, report: ReadReport) -> tuple[Any, Any]:
        """The mixed training rows and every task's test rows (--mixture in place of --data)."""
        return read_mixture(self.mixture, self.cfg, report)

    def tokenizer_texts(self, ds: Any) -> Iterator[str]:
        """Sources and targets: a text-to-text vocabulary must cover both sides."""
        source, target, prefix = self._layout()
        for batch in ds.iter(batch_size=1000):
            for s, t in zip(batch[source], batch[target]):
                yield f"{prefix}{s}"
                yield str(t)

    def prepare(self, ds: Any, *, what: str) -> list[dict[str, Any]]:
        source_column, target_column, prefix = self._layout()
        sources, targets = [], []
        for row in ds:
            sources.append(prefix + check_text(row[source_column], row, source_column, what))
            target = row[target_column]
            targets.append(check_text(str(target) if isinstance(target, (int, float)) else target,
                                      row, target_column, what))
        # Both tokenizers end a text with </s> (BART also opens it with <s>), so every target
        # teaches the decoder where to stop.
        inputs = self.tokenizer(sources, truncation=True, max_length=self.cfg.block_size)["input_ids"]
        labels = self.tokenizer(targets, truncation=True, max_length=self.cfg.max_target_length)["input_ids"]
        return [{"input_ids": i, "labels": t} for i, t in zip(inputs, labels)]

    # --- training ---------------------------------------------------------------------------
    def collate(self, examples: list[dict[str, Any]], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_inputs(examples, self.tokenizer.pad_token_id)
        # -100 is what the loss ignores; the model shifts labels right behind its decoder start token
        # (pad for T5, </s> for BART) and turns -100 back into pad. `pad` gives a contiguous tensor,
        # which T5's `labels.view(-1)` needs.
        batch["labels"] = pad_rows([e["labels"] for e in examples], -100)
        return batch

    # --- prediction and scores --------------------------------------------------------------
    def predict_batch(self, model: torch.nn.Module, examples: list[dict[str, Any]],
                      batch: dict[str, torch.Tensor]) -> list[str]:
        out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             max_new_tokens=self.cfg.max_target_length, num_beams=self.cfg.num_beams,
                             do_sample=False)
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def score(self, ds: Any, predictions: list[str]) -> dict[str, float]:
        references = [str(v) for v in ds[self._layout()[1]]]
        if not self.mixture:
            return text_scores(predictions, references, self.metrics)
        tasks = list(ds["task"])
        scores: dict[str, float] = {}
        headlines = []
        for task in self.mixture:
            rows = [i for i, name in enumerate(tasks) if name == task.name]
            names = self.task_metrics[task.name]
            own = text_scores([predictions[i] for i in rows], [references[i] for i in rows], names)
            scores.update({f"{task.name}/{key}": value for key, value in own.items()})
            headlines.append(_percent(own, names[0]))
        # Each task counts once, whatever its size, as T5 and GLUE average.
        scores["average"] = sum(headlines) / len(headlines)
        return scores

    def record(self, row: dict[str, Any], prediction: Any) -> dict[str, Any]:
        return {**{k: v for k, v in row.items() if k != WHERE}, "prediction": prediction}
