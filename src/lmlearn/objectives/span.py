"""SpanBERT: mask contiguous spans of whole words, and predict each masked token both from its own
position (MLM) and from the two tokens just outside its span (the span boundary objective, SBO).

Masking follows the paper where the reference code (facebookresearch/SpanBERT, masking.py) differs:
span lengths in words ~ Geometric(0.2) clipped to [1, 10] (the code defaults to 0.3), and the
80/10/10 choice is made once per span (the code defaults to once per token). As in the code, exactly
ceil(mlm_probability * n) of the n non-special tokens are masked: spans are added until the budget is
spent, the last one is cut short, and spans that touch or overlap merge into one. A span starts at a
word start drawn uniformly among the unmasked ones (paper; the code draws a token, which favours long
words, moves to its word's start, and draws again when that token is already masked).
Loss = mean MLM loss + mean SBO loss (the code's pair_loss_weight, which defaults to 0, set to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from torch import nn

from lmlearn.config import option
from lmlearn.data.blocks import framed_blocks
from lmlearn.engine.method import Models, StepOutput, rows_of
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective

MAX_PAIR_TARGETS = 20  # SBO predicts at most the first 20 tokens of a span (the code's max_pair_targets)
POSITION_SIZE = 200  # width of the SBO's relative position embedding, as in the reference code
_WORD_MARKS = ("▁", "Ġ", "\n")  # a piece starting with one of these starts a word (see tokenization.py)
# Byte-level BPE writes a newline as its own piece "Ċ" and the next word without "Ġ"; WordPiece and
# Unigram put the newline at the start of the next word's first piece instead.
_NEWLINE = "Ċ"


@dataclass
class SpanBERTOptions:
    """Settings of the `span` objective."""

    mlm_probability: float = option(0.15, "fraction of tokens to mask", range="(0, 1)")
    span_geometric_p: float = option(0.2, "span: p of the geometric span length in words (paper 0.2, code 0.3)",
                                     range="(0, 1]")
    max_span_words: int = option(10, "span: longest span, in words", range=">=1")


def span_length_probs(p: float, max_words: int) -> torch.Tensor:
    """P(length = 1..max_words): Geometric(p) truncated to [1, max_words] and renormalised."""
    lengths = torch.arange(1, max_words + 1, dtype=torch.float64)
    probs = p * (1 - p) ** (lengths - 1)
    return probs / probs.sum()


def word_start_tables(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Per vocabulary id: does the piece start a word, and does it end with a newline."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    model = tokenizer.backend_tokenizer.model
    if type(model).__name__ == "WordPiece":  # any WordPiece vocabulary marks continuations instead
        prefix = model.continuing_subword_prefix
        starts = [not piece.startswith(prefix) for piece in pieces]
    else:
        starts = [piece.startswith(_WORD_MARKS) for piece in pieces]
    return torch.tensor(starts), torch.tensor([piece.endswith(_NEWLINE) for piece in pieces])


def span_mask(is_start: torch.Tensor, maskable: torch.Tensor, probability: float, geometric_p: float,
              max_words: int, generator: torch.Generator) -> torch.Tensor:
    """(B, L) bool: spans of whole words until ceil(probability * #maskable) tokens per row are masked.

    Each round adds one span to every row still short of its budget. A span never crosses an
    unmaskable token (special tokens, document separators): it stops there.
    """
    rows, length = maskable.shape
    position = torch.arange(length)
    word = torch.cumsum(is_start | ~maskable, dim=1)  # word number of each token
    segment = torch.cumsum(~maskable, dim=1)  # stretch between unmaskable tokens
    budget = torch.ceil(maskable.sum(1).double() * probability).long()
    probs = span_length_probs(geometric_p, max_words)
    masked = torch.zeros_like(maskable)
    count = torch.zeros(rows, dtype=torch.long)
    while True:
        allowed = is_start & maskable & ~masked & (count < budget)[:, None]
        active = allowed.any(1)
        if not active.any():
            return masked
        anchor = torch.where(allowed, torch.rand(rows, length, generator=generator), -1.0).argmax(1, keepdim=True)
        words = torch.multinomial(probs, rows, replacement=True, generator=generator)[:, None] + 1
        span = ((position >= anchor) & (word < word.gather(1, anchor) + words)
                & (segment == segment.gather(1, anchor)) & maskable & active[:, None])
        new = span & ~masked
        keep = new & (torch.cumsum(new, dim=1) <= (budget - count)[:, None])  # cut the last span short
        masked |= keep
        count += keep.sum(1)


def span_edges(masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each masked token, the first and last position of its (merged) span; meaningless elsewhere."""
    rows, length = masked.shape
    position = torch.arange(length).expand(rows, length)
    before = F.pad(masked[:, :-1], (1, 0))
    after = F.pad(masked[:, 1:], (0, 1))
    first = torch.cummax(torch.where(masked & ~before, position, 0), dim=1).values
    last = torch.where(masked & ~after, position, length).flip(1).cummin(dim=1).values.flip(1)
    return first, last


def replace_spans(input_ids: torch.Tensor, masked: torch.Tensor, first: torch.Tensor, mask_id: int,
                  pool: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """80% of spans become [MASK], 10% random tokens, 10% stay; one draw per span, at its first token."""
    draw = torch.rand(input_ids.shape, generator=generator).gather(1, first)
    # Random tokens come from the batch's own tokens: the code samples the corpus distribution, not the vocabulary.
    random_ids = pool[torch.randint(len(pool), input_ids.shape, generator=generator)]
    out = torch.where(masked & (draw < 0.8), mask_id, input_ids)
    return torch.where(masked & (draw >= 0.8) & (draw < 0.9), random_ids, out)


def boundary_targets(input_ids: torch.Tensor, masked: torch.Tensor, first: torch.Tensor, last: torch.Tensor,
                     lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """SBO targets, one per predicted token: its row, the boundary positions s-1 and e+1, i-s, and the token.

    A span whose outside neighbour is the framing [CLS]/[SEP] (or beyond) has none (the code's
    'external' endpoints), and only a span's first MAX_PAIR_TARGETS tokens are predicted.
    """
    offset = torch.arange(masked.shape[1]) - first
    left, right = first - 1, last + 1
    keep = masked & (left >= 1) & (right <= lengths[:, None] - 2) & (offset < MAX_PAIR_TARGETS)
    row = torch.arange(masked.shape[0])[:, None].expand_as(masked)
    return {"sbo_index": row[keep], "sbo_left": left[keep], "sbo_right": right[keep],
            "sbo_position": offset[keep], "sbo_labels": input_ids[keep]}


class SpanBoundaryHead(nn.Module):
    """y_i = LN(GeLU(W2 LN(GeLU(W1 [x_(s-1); x_(e+1); p_(i-s+1)])))), scored against the input embeddings."""

    def __init__(self, hidden: int, vocab_size: int, eps: float):
        super().__init__()
        self.position_embeddings = nn.Embedding(MAX_PAIR_TARGETS, POSITION_SIZE)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden + POSITION_SIZE, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=eps),
            nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=eps),
        )
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden_states: torch.Tensor, targets: dict[str, torch.Tensor],
                embeddings: torch.Tensor) -> torch.Tensor:
        """Logits (n_targets, V) for the targets of `boundary_targets`, from the encoder output (B, L, H)."""
        index = targets["sbo_index"]
        h0 = torch.cat([hidden_states[index, targets["sbo_left"]], hidden_states[index, targets["sbo_right"]],
                        self.position_embeddings(targets["sbo_position"])], dim=-1)
        return F.linear(self.mlp(h0), embeddings, self.bias)  # output tied to the input embeddings


@dataclass
class SpanBERTOutput:
    """The summed loss and its two parts."""

    loss: torch.Tensor
    mlm_loss: torch.Tensor
    sbo_loss: torch.Tensor


class SpanBERTModel(nn.Module):
    """A masked-LM model and its span boundary head, trained together."""

    def __init__(self, mlm: nn.Module):
        super().__init__()
        config = mlm.config
        self.mlm = mlm
        self.span_boundary_head = SpanBoundaryHead(config.hidden_size, config.vocab_size, config.layer_norm_eps)
        for module in self.span_boundary_head.modules():  # BERT's initialisation
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=config.initializer_range)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                **targets: torch.Tensor) -> SpanBERTOutput:
        """MLM loss over the masked tokens plus SBO loss over the boundary targets (`sbo_*` tensors)."""
        out = self.mlm(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_hidden_states=True)
        logits = self.span_boundary_head(out.hidden_states[-1], targets, self.mlm.get_input_embeddings().weight)
        if len(logits):
            sbo_loss = F.cross_entropy(logits.float(), targets["sbo_labels"])
        else:  # no span had two inner neighbours: nothing to predict, but keep the graph
            sbo_loss = logits.sum() * 0.0
        return SpanBERTOutput(loss=out.loss + sbo_loss, mlm_loss=out.loss, sbo_loss=sbo_loss)


class SpanBERT(Objective):
    """Span masking of whole words with the span boundary objective; no NSP, one segment per block."""

    name = "span"
    head = "masked-lm"
    families = ("bert", "roberta")
    Options = SpanBERTOptions

    def __init__(self, cfg: Any = None, tokenizer: Any = None):
        super().__init__(cfg, tokenizer)
        if tokenizer is not None:
            self.starts_word, self.ends_line = word_start_tables(tokenizer)
            self.special_ids = torch.tensor(tokenizer.all_special_ids)

    def build_model(self, spec: str, seed: int) -> SpanBERTModel:
        """The family's masked-LM model with a freshly initialised span boundary head."""
        mlm = super().build_model(spec, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return SpanBERTModel(mlm)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """MLM + SBO, weighted by the masked tokens, with both parts as metrics."""
        out = models.model(**batch)
        return StepOutput(out.loss, (batch["labels"] != -100).sum(),
                          {"mlm_loss": out.mlm_loss.detach(), "sbo_loss": out.sbo_loss.detach()})

    def shard(self, batch: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
        """A process's rows, with the SBO targets of those rows (their row index made local)."""
        lo, hi = rows_of(rank, world, batch["input_ids"].shape[0])
        part = {k: v[lo:hi] for k, v in batch.items() if not k.startswith("sbo_")}
        keep = (batch["sbo_index"] >= lo) & (batch["sbo_index"] < hi)
        part.update({k: v[keep] for k, v in batch.items() if k.startswith("sbo_")})
        part["sbo_index"] = part["sbo_index"] - lo
        return part

    def save(self, model: SpanBERTModel, path: str | Path) -> None:
        """Keep the masked-LM model (encoder and MLM head) and the tokenizer; the SBO head only served training."""
        from lmlearn.models.factory import save_model

        save_model(model.mlm, self.tokenizer, path)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Pack `ds` into blocks of one contiguous segment framed as [CLS] ... [SEP]."""
        tok, cfg = self.tokenizer, self.cfg
        if not (0 < cfg.mlm_probability <= 1 and 0 < cfg.span_geometric_p <= 1 and cfg.max_span_words >= 1):
            raise LmlearnError(f"span needs 0 < --mlm-probability <= 1, 0 < --span-geometric-p <= 1 and "
                               f"--max-span-words >= 1; got {cfg.mlm_probability}, {cfg.span_geometric_p}, "
                               f"{cfg.max_span_words}")
        if cfg.block_size < 3:
            raise LmlearnError(f"--block-size {cfg.block_size} leaves no room for text between [CLS] and [SEP]")
        return framed_blocks(ds, tok, text_column=cfg.text_column, block_size=cfg.block_size,
                             head=[tok.cls_token_id], tail=[tok.sep_token_id], what=what)

    def word_starts(self, input_ids: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
        """(B, L) bool: the token starts a word (its own mark, or it follows a newline or a special token)."""
        after_special = F.pad(special[:, :-1], (1, 0), value=True)
        after_newline = F.pad(self.ends_line[input_ids[:, :-1]], (1, 0))
        return self.starts_word[input_ids] | after_special | after_newline

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Mask spans, replace them 80/10/10 per span, and list the SBO targets."""
        tok, cfg = self.tokenizer, self.cfg
        special = torch.isin(examples, self.special_ids)
        masked = span_mask(self.word_starts(examples, special), ~special, cfg.mlm_probability,
                           cfg.span_geometric_p, cfg.max_span_words, generator)
        first, last = span_edges(masked)
        real = examples != tok.pad_token_id
        return {
            "input_ids": replace_spans(examples, masked, first, tok.mask_token_id, examples[~special], generator),
            "attention_mask": real.long(),
            "labels": examples.masked_fill(~masked, -100),
            **boundary_targets(examples, masked, first, last, real.sum(1)),
        }
