"""XLM's translation language modelling (TLM), mixed with monolingual masked LM.

A TLM example is a sentence and its translation in the family's pair format (BERT
`[CLS] en [SEP] ko [SEP]`, RoBERTa `<s> en </s></s> ko </s>`); 15% of the tokens of *both*
sentences are masked, so a word can be recovered from the other language. As in XLM
(facebookresearch/XLM: xlm/trainer.py), positions restart at the second sentence and every token
carries its language id. HF BERT and RoBERTa have no `langs` argument, so the language ids go in
`token_type_ids`: the segment embedding becomes XLM's language embedding (0 English or the source
column, 1 Korean or the target column).

XLM alternates TLM steps with monolingual MLM steps on streams of one language. Here the
alternation is per example: the prepared examples are translation pairs and monolingual blocks of
`--block-size` tokens, the smaller group repeated until pairs make up `--tlm-mix` of them, then
shuffled once (seeded), so every batch mixes both in that proportion on average.

Parallel data is a `--source-column`/`--target-column` pair when the data has both columns (pass
`--text-column source` so the loader finds a text column), else lines of the form
`English: … / 한국어: …` (either order), as builtin:corpus writes its translation documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import datasets
import torch
from torch.nn.utils.rnn import pad_sequence

from lmlearn.config import option
from lmlearn.data.blocks import blocks_tensor, pack_blocks
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective
from lmlearn.objectives.masking import ordinary_ids

_EN_FIRST = re.compile(r"English:\s*(.+?)\s+/\s+한국어:\s*(.+)")
_KO_FIRST = re.compile(r"한국어:\s*(.+?)\s+/\s+English:\s*(.+)")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass
class TranslationLMOptions:
    """Settings of XLM translation LM."""

    mlm_probability: float = option(0.15, "fraction of tokens selected for prediction", range="(0, 1)")
    tlm_mix: float = option(0.5, "tlm: fraction of examples that are translation pairs (the rest: monolingual MLM)",
                            range="[0, 1]")
    source_column: str = option("source", "tlm: column of the first language of a parallel pair")
    target_column: str = option("target", "tlm: column of its translation")


class Example(NamedTuple):
    """Token ids; where the second sentence starts (len(ids) for a monolingual block); the first part's language."""

    ids: torch.Tensor
    boundary: int
    lang: int


def parse_pair(line: str) -> tuple[str, str] | None:
    """(English, Korean) from a line `English: … / 한국어: …` or `한국어: … / English: …`, else None."""
    line = line.strip()
    if match := _EN_FIRST.fullmatch(line):
        return match[1], match[2]
    if match := _KO_FIRST.fullmatch(line):
        return match[2], match[1]
    return None


def language_of(text: str) -> int:
    """1 for Korean (more Hangul than Latin letters), else 0."""
    return int(len(_HANGUL.findall(text)) > len(_LATIN.findall(text)))


def _split_rows(batch: dict, text_column: str, source_column: str, target_column: str, columns: bool) -> dict:
    """Rows -> {first, second, lang}: pairs have both sides; monolingual text has second == ""."""
    out: dict[str, list] = {"first": [], "second": [], "lang": []}

    def add(first: str, second: str, lang: int) -> None:
        out["first"].append(first)
        out["second"].append(second)
        out["lang"].append(lang)

    def add_pair(source: str, target: str) -> None:
        # Each side of a pair is also monolingual text of its language, as both sides of a
        # parallel corpus are for XLM's MLM.
        add(source, target, 0)
        add(source, "", 0)
        add(target, "", 1)

    if columns:
        for source, target in zip(batch[source_column], batch[target_column]):
            source, target = (source or "").strip(), (target or "").strip()
            if source and target:
                add_pair(source, target)
        return out
    for text in batch[text_column]:
        rest = []
        for line in text.splitlines():
            pair = parse_pair(line)
            if pair:
                add_pair(*pair)
            elif line.strip():
                rest.append(line)
        if rest:
            add("\n".join(rest), "", language_of(" ".join(rest)))
    return out


def _encode_pairs(batch: dict, tokenizer, max_length: int) -> dict:
    """Each pair in the family's pair format, trimmed longest side first, and where sentence 2 starts."""
    enc = tokenizer(batch["first"], batch["second"], truncation="longest_first", max_length=max_length)
    # Sentence 1 runs through the first special token after the opening one ([SEP] or </s>), so
    # RoBERTa's second </s> opens sentence 2 as XLM's </s> does.
    boundaries = [1 + next(i for i, s in enumerate(enc.sequence_ids(k)) if i > 0 and s is None)
                  for k in range(len(enc["input_ids"]))]
    return {"input_ids": enc["input_ids"], "boundary": boundaries}


def _repeat(items: list, n: int) -> list:
    """`items` repeated cyclically to n entries (never fewer than one full pass)."""
    return [items[i % len(items)] for i in range(max(n, len(items)))]


def _is_pair(batch: dict) -> list[bool]:
    return [second != "" for second in batch["second"]]


def _is_monolingual(batch: dict, lang: int) -> list[bool]:
    return [second == "" and row_lang == lang for second, row_lang in zip(batch["second"], batch["lang"])]


def mask_tokens(ids: torch.Tensor, candidates: torch.Tensor, probability: float, mask_id: int,
                random_pool: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels): each candidate is selected with `probability`, then 80% mask, 10% random, 10% kept."""
    scores = torch.rand(ids.shape, generator=generator)
    selected = (scores < probability) & candidates
    if not selected.any():  # a batch with nothing to predict would make the loss NaN: take the likeliest
        selected.view(-1)[scores.masked_fill(~candidates, 2.0).argmin()] = True
    labels = torch.where(selected, ids, -100)
    action = torch.rand(ids.shape, generator=generator)
    random_ids = random_pool[torch.randint(len(random_pool), ids.shape, generator=generator)]
    inputs = torch.where(selected & (action < 0.8), mask_id, ids)
    inputs = torch.where(selected & (action >= 0.9), random_ids, inputs)
    return inputs, labels


class TranslationLM(Objective):
    """XLM translation LM with monolingual MLM, for BERT and RoBERTa masked-LM heads."""

    name = "tlm"
    head = "masked-lm"
    families = ("bert", "roberta")
    Options = TranslationLMOptions

    def __init__(self, cfg: Any, tokenizer: Any):
        super().__init__(cfg, tokenizer)
        from lmlearn.models.spec import model_family

        if not 0 < cfg.mlm_probability < 1:
            raise LmlearnError(f"--mlm-probability {cfg.mlm_probability} must be between 0 and 1")
        if not 0 <= cfg.tlm_mix <= 1:
            raise LmlearnError(f"--tlm-mix {cfg.tlm_mix} must be between 0 and 1")
        if cfg.block_size < 8:
            raise LmlearnError(f"--block-size {cfg.block_size} is too short for sentence pairs; use at least 8")
        # RoBERTa numbers positions from pad_token_id + 1 (its embeddings' padding_idx offset).
        self.position_offset = tokenizer.pad_token_id + 1 if model_family(cfg.model) == "roberta" else 0
        self.random_pool = ordinary_ids(tokenizer)  # unlike XLM, which draws from the whole vocabulary

    def build_model(self, spec: str, seed: int) -> torch.nn.Module:
        """The masked-LM model, with two rows in its segment (here: language) embedding."""
        from lmlearn.models.factory import build_model
        from lmlearn.models.presets import build_config, parse_preset

        parsed = parse_preset(spec)
        if parsed is not None and parsed[0] == "roberta":
            # The roberta presets have type_vocab_size 1, as RoBERTa has no segments.
            config = build_config(spec, self.tokenizer)
            config.type_vocab_size = 2
            return build_model(config, self.head, seed)
        model = super().build_model(spec, seed)
        embeddings = model.base_model.embeddings
        if embeddings.token_type_embeddings.num_embeddings < 2:
            # A saved RoBERTa: both languages start from its one segment row, so its outputs are unchanged.
            old = embeddings.token_type_embeddings.weight.data
            embeddings.token_type_embeddings = torch.nn.Embedding(2, old.shape[1]).to(old)
            embeddings.token_type_embeddings.weight.data.copy_(old[:1].expand(2, -1))
            model.config.type_vocab_size = 2
        return model

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> list[Example]:
        """Translation pairs and monolingual blocks, mixed in the --tlm-mix proportion and shuffled (seeded)."""
        cfg = self.cfg
        columns = cfg.source_column in ds.column_names and cfg.target_column in ds.column_names
        rows = ds.map(_split_rows, batched=True, remove_columns=ds.column_names, desc="finding translation pairs",
                      fn_kwargs={"text_column": cfg.text_column, "source_column": cfg.source_column,
                                 "target_column": cfg.target_column, "columns": columns})
        return self._mix(self._pairs(rows), self._monolingual(rows, what), what)

    def _pairs(self, rows: datasets.Dataset) -> list[Example]:
        """Every pair row tokenized in the family's pair format."""
        rows = rows.filter(_is_pair, batched=True)
        if len(rows) == 0:  # a map over no rows would return no columns at all
            return []
        encoded = rows.map(_encode_pairs, batched=True, remove_columns=rows.column_names, desc="tokenizing pairs",
                           fn_kwargs={"tokenizer": self.tokenizer, "max_length": self.cfg.block_size})
        return [Example(torch.tensor(ids), b, 0) for ids, b in zip(encoded["input_ids"], encoded["boundary"])]

    def _monolingual(self, rows: datasets.Dataset, what: str) -> list[Example]:
        """Blocks of one language each (XLM's streams), framed as single sequences: [CLS] … [SEP] or <s> … </s>."""
        tok, examples = self.tokenizer, []
        for lang in (0, 1):
            text = rows.filter(_is_monolingual, batched=True, fn_kwargs={"lang": lang})
            blocks = pack_blocks(text, tok, text_column="first", block_size=self.cfg.block_size - 2)
            if len(blocks) == 0:
                continue
            inner = blocks_tensor(blocks, what)
            cls, sep = (torch.full((len(inner), 1), i) for i in (tok.cls_token_id, tok.sep_token_id))
            examples += [Example(row, self.cfg.block_size, lang) for row in torch.cat([cls, inner, sep], dim=1)]
        return examples

    def _mix(self, pairs: list[Example], mono: list[Example], what: str) -> list[Example]:
        """Repeat the smaller group until pairs are tlm_mix of the examples, then shuffle."""
        mix = self.cfg.tlm_mix
        if mix > 0 and not pairs:
            raise LmlearnError(f"the {what} has no translation pairs: give columns '{self.cfg.source_column}' "
                               f"and '{self.cfg.target_column}' or lines 'English: … / 한국어: …' "
                               "(or use --tlm-mix 0)")
        if mix < 1 and not mono:
            raise LmlearnError(f"the {what} has too little text for one monolingual block of --block-size "
                               f"{self.cfg.block_size}; use a smaller --block-size or --tlm-mix 1")
        if mix in (0, 1):
            examples = pairs if mix == 1 else mono
        elif len(pairs) < mix * (len(pairs) + len(mono)):
            examples = mono + _repeat(pairs, round(len(mono) * mix / (1 - mix)))
        else:
            examples = pairs + _repeat(mono, round(len(pairs) * (1 - mix) / mix))
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(self.cfg.seed))
        return [examples[i] for i in order.tolist()]

    def collate(self, examples: list[Example], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Pad, add language and position ids, and mask 15% of every non-pad token but the first."""
        ids = pad_sequence([e.ids for e in examples], batch_first=True, padding_value=self.tokenizer.pad_token_id)
        lengths = torch.tensor([len(e.ids) for e in examples])[:, None]
        boundary = torch.tensor([e.boundary for e in examples])[:, None]
        first_lang = torch.tensor([e.lang for e in examples])[:, None]
        position = torch.arange(ids.shape[1])[None, :]
        attention = position < lengths
        second = position >= boundary
        langs = torch.where(second, 1, first_lang) * attention
        # XLM restarts positions at each sentence of the pair; padding gets the first position (it is never attended).
        positions = torch.where(second, position - boundary, position) * attention + self.position_offset
        # XLM never predicts the first token or padding; the separators inside may be predicted.
        candidates = attention & (position > 0)
        inputs, labels = mask_tokens(ids, candidates, self.cfg.mlm_probability, self.tokenizer.mask_token_id,
                                     self.random_pool, generator)
        return {"input_ids": inputs, "attention_mask": attention.long(), "token_type_ids": langs,
                "position_ids": positions, "labels": labels}
