"""`lmlearn tokenizer train`: train a tokenizer that `AutoTokenizer.from_pretrained(OUT)` loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.config import option


@dataclass
class Config:
    """Settings of `lmlearn tokenizer train`."""

    data: str = option("builtin:corpus", "text to train on: file, glob, saved dataset folder or builtin:NAME")
    kind: Literal["bpe", "wordpiece", "unigram"] | None = option(None, "tokenizer model (default: the family's own)")
    family: str = option("gpt2", "model family whose special tokens and input format to use")
    vocab_size: int = option(8000, "vocabulary size, special tokens included", range=">=1")
    min_frequency: int = option(2, "merges/pieces must occur at least this often", range=">=1")
    limit_alphabet: int | None = option(
        None, "wordpiece: keep only the N most frequent characters (the rest become [UNK], as in BERT)", range=">=1")
    text_column: str = option("text", "column holding the text")
    txt_unit: Literal["line", "paragraph", "file"] = option("line", "what one example of a .txt file is")
    on_bad_rows: Literal["error", "skip"] = option("error", "stop at a malformed row, or skip and count it")
    out: str = option("runs/tokenizer", "output folder")


def main(cfg: Config) -> int:
    """Train, save atomically, and show how a sample sentence is split."""
    from lmlearn.data.sources import ReadReport, iter_texts, load_source
    from lmlearn.io import atomic_write_dir
    from lmlearn.tokenization import train_tokenizer

    report = ReadReport()
    ds = load_source(cfg.data, required=[cfg.text_column], txt_unit=cfg.txt_unit,
                     on_bad_rows=cfg.on_bad_rows, report=report)
    tok = train_tokenizer(iter_texts(ds, cfg.text_column), family=cfg.family, kind=cfg.kind,
                          vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                          limit_alphabet=cfg.limit_alphabet)
    atomic_write_dir(cfg.out, lambda tmp: tok.save_pretrained(str(tmp)))
    sample = str(ds[0][cfg.text_column])[:80]
    print(f"trained a {cfg.kind or 'default'} tokenizer for {cfg.family}: {len(tok)} tokens, saved to {cfg.out}")
    if report.skipped:
        print(f"skipped {report.skipped} malformed rows, first: {report.first_problems[0]}")
    print(f"  {sample!r} -> {tok.tokenize(sample)[:24]}")
    return 0
