"""TinyBERT's data augmentation (Jiao et al. 2020, Algorithm 1) for task distillation: each labelled row gets N
copies in which every word that is one token of a masked LM is, with probability p, replaced by one of the
LM's top K predictions for that word masked (the candidates come from one masked position at a time, in
the original sentence; each copy draws its own replacements). Words of several tokens stay as they are:
the paper replaces them with GloVe neighbours, which lmlearn does not ship. A copy keeps its row's label;
the soft loss, the teacher's view of the copy, is what distillation learns from it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class AugmentOptions:
    """Settings of `--augment` (task distillation)."""

    augment: int = option(0, "task distillation: add N TinyBERT-style augmented copies of each labelled row "
                             "(the paper: 20; 0: none)", range=">=0")
    augment_p: float = option(0.4, "augment: chance each one-token word is replaced (the paper's p_t)", range="[0, 1]")
    augment_k: int = option(15, "augment: candidates per word, the masked LM's top K (the paper's K)", range=">=1")
    augment_model: str = option("", "augment: the masked LM folder that proposes the words (a pre-trained MLM, "
                                    "as the paper's BERT-base; the teacher's own base model fits)")


class WordCandidates:
    """Each one-token word's top-K replacements from a masked LM, one masked position at a time."""

    def __init__(self, folder: str, k: int, device: Any = "cpu", batch_size: int = 64):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = AutoModelForMaskedLM.from_pretrained(folder).to(device).eval()
        except (OSError, ValueError) as e:
            raise LmlearnError(f"--augment-model {folder}: not a masked LM folder with a tokenizer ({e})") from None
        if self.tokenizer.mask_token_id is None or not self.tokenizer.is_fast:
            raise LmlearnError(f"--augment-model {folder}: its tokenizer needs a mask token and word offsets "
                               "(a fast tokenizer)")
        self.k, self.device, self.batch_size = k, device, batch_size
        self.banned = set(self.tokenizer.all_special_ids)

    def _word(self, token_id: int) -> str | None:
        """A candidate token as a word, or None when it is not one (special, punctuation or space only, a word
        piece's continuation)."""
        if token_id in self.banned:
            return None
        token = self.tokenizer.convert_ids_to_tokens(token_id)
        text = self.tokenizer.convert_tokens_to_string([token]).strip()
        return None if not any(c.isalnum() for c in text) or token.startswith("##") else text

    def of(self, text: str) -> list[tuple[int, int, list[str]]]:
        """(start, end, candidates) for each word of `text` that is a single token."""
        enc = self.tokenizer(text, return_offsets_mapping=True, truncation=True)
        words: dict[int, list[int]] = {}
        for position, word in enumerate(enc.word_ids()):
            if word is not None:
                words.setdefault(word, []).append(position)
        single = [pieces[0] for pieces in words.values() if len(pieces) == 1]
        found = []
        ids = torch.tensor(enc["input_ids"])
        for i in range(0, len(single), self.batch_size):
            positions = single[i:i + self.batch_size]
            batch = ids.repeat(len(positions), 1)
            batch[torch.arange(len(positions)), positions] = self.tokenizer.mask_token_id
            with torch.no_grad():
                logits = self.model(input_ids=batch.to(self.device)).logits
            rows = logits[torch.arange(len(positions)), positions].float()
            # room for the tokens that are not words (special, punctuation, continuations), filtered below
            top = rows.topk(min(4 * self.k + len(self.banned), rows.shape[-1]), dim=-1).indices.tolist()
            for position, ranked in zip(positions, top):
                words_ = [w for w in map(self._word, ranked) if w is not None][:self.k]
                start, end = enc["offset_mapping"][position]
                while start < end and text[start].isspace():  # a metaspace token's span holds its space
                    start += 1
                if words_ and end > start:
                    found.append((start, end, words_))
        return found


def augment_text(text: str, candidates: list[tuple[int, int, list[str]]], p: float, rng: random.Random) -> str:
    """One copy of `text`: each candidate word replaced with probability p by one of its candidates."""
    out, last = [], 0
    for start, end, words in candidates:
        out.append(text[last:start])
        out.append(rng.choice(words) if rng.random() < p else text[start:end])
        last = end
    return "".join(out) + text[last:]


def augment_rows(rows: Any, columns: list[str], lm: WordCandidates, n: int, p: float, seed: int) -> list[dict]:
    """The rows followed by up to n augmented copies of each (the text columns changed, the rest kept): n draws,
    of which a copy equal to its row or to an earlier copy is dropped, as in TinyBERT's code, so a short row
    with few replaceable words does not weigh n times as much."""
    rng = random.Random(seed)
    originals = [dict(r) for r in rows]
    copies = []
    for row in originals:
        found = {c: lm.of(row[c]) for c in columns}
        seen = {tuple(row[c] for c in columns)}
        for _ in range(n):
            copy = {c: augment_text(row[c], found[c], p, rng) for c in columns}
            key = tuple(copy[c] for c in columns)
            if key not in seen:
                seen.add(key)
                copies.append({**row, **copy})
    return originals + copies
