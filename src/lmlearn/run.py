"""What every training command does around the loop: guard the output folder, find or train a
tokenizer, and write the finished model and summary atomically."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_dir, atomic_write_json
from lmlearn.models.settings import ModelSettings
from lmlearn.train.checkpoint import list_checkpoints


def prepare_out_dir(out: str | Path, resume: bool, overwrite: bool) -> Path:
    """Refuse to clobber an earlier run unless asked; --overwrite drops only its checkpoints.

    The earlier model and summary stay until the new run replaces them, so a failed new run
    never destroys a good old one.
    """
    out = Path(out)
    earlier = [name for name in ("summary.json", "metrics.jsonl", "checkpoints") if (out / name).exists()]
    if earlier and not (resume or overwrite):
        raise LmlearnError(f"{out} already holds a run ({', '.join(earlier)}); pass --resume to continue it "
                           "or --overwrite to start over")
    if overwrite and not resume:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def has_checkpoint(out: str | Path) -> bool:
    """Whether `out` holds a complete checkpoint to resume from."""
    return bool(list_checkpoints(Path(out) / "checkpoints"))


def model_family(spec: str) -> str:
    """The family (gpt2, bert, ...) of a preset name or a local model folder."""
    from lmlearn.models.factory import family_of, read_config
    from lmlearn.models.presets import parse_preset

    parsed = parse_preset(spec)
    if parsed:
        return parsed[0]
    config_file = Path(spec) / "config.json"
    if not config_file.is_file():
        raise LmlearnError(f"--model {spec}: neither a preset (see `lmlearn models`) nor a folder with config.json")
    return family_of(read_config(spec))


def check_family(spec: str, families: Iterable[str], what: str) -> str:
    """Fail early when the model family does not fit the method."""
    family = model_family(spec)
    families = tuple(families)
    if family not in families:
        raise LmlearnError(f"{what} does not fit a {family} model ({spec}); families it supports: {', '.join(families)}")
    return family


def get_tokenizer(settings: ModelSettings, out: Path, family: str, texts: Iterable[str] | None):
    """The run's tokenizer: the one saved by an earlier attempt of this run, --tokenizer, the model
    folder's, or one trained on `texts` (saved to OUT/tokenizer so a resumed run reuses it)."""
    from transformers import AutoTokenizer

    from lmlearn.models.factory import load_tokenizer

    saved = out / "tokenizer"
    if saved.is_dir() and has_checkpoint(out):
        return AutoTokenizer.from_pretrained(str(saved))
    if settings.tokenizer:
        if not os.path.isdir(settings.tokenizer):
            raise LmlearnError(f"--tokenizer {settings.tokenizer}: no such folder")
        return AutoTokenizer.from_pretrained(settings.tokenizer)
    tok = load_tokenizer(settings.model)
    if tok is not None:
        return tok
    if texts is None:
        raise LmlearnError(f"--model {settings.model} has no tokenizer; pass --tokenizer DIR")
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer(texts, family=family, kind=settings.tokenizer_kind, vocab_size=settings.vocab_size)
    atomic_write_dir(saved, lambda tmp: tok.save_pretrained(str(tmp)))
    return tok


def save_model(model: Any, tokenizer: Any, path: str | Path) -> Path:
    """Save model and tokenizer as a folder that `AutoModel*.from_pretrained` loads, atomically."""
    def fill(tmp: Path) -> None:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))

    return atomic_write_dir(path, fill)


def write_summary(out: str | Path, summary: dict[str, Any]) -> None:
    """Write OUT/summary.json atomically."""
    atomic_write_json(Path(out) / "summary.json", summary)


def read_summary(out: str | Path) -> dict[str, Any]:
    """Read OUT/summary.json."""
    return json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
