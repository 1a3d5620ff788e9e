"""What every training command does around the loop: guard the output folder, find or train a
tokenizer, and write the finished model and summary atomically."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_dir, atomic_write_json, atomic_write_text
from lmlearn.models.settings import ModelSettings
from lmlearn.engine.checkpoint import list_checkpoints


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


def start_run(settings: Any) -> tuple[Any, Path]:
    """The run's Accelerator, created before anything else, and its output folder, prepared by the
    main process alone (the others wait): under `accelerate launch` one process cleans and writes."""
    from lmlearn.engine.loop import make_accelerator

    accelerator = make_accelerator(settings)
    out = Path(settings.out)
    if accelerator.is_main_process:
        out = prepare_out_dir(settings.out, settings.resume, settings.overwrite)
    accelerator.wait_for_everyone()
    return accelerator, out


def resolve_model_dir(path: str) -> Path:
    """Accept a model folder or a run folder that holds `model/`."""
    p = Path(path)
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "config.json").is_file():
        return p
    raise LmlearnError(f"--model {path}: no config.json there or in {p / 'model'}")


def text_splits(cfg: Any, report: Any) -> tuple[Any, Any]:
    """Training and held-out text rows: --data and --eval-data, or --eval-fraction of --data."""
    from lmlearn.data.sources import load_source

    train_ds = load_source(cfg.data, required=[cfg.text_column], txt_unit=cfg.txt_unit,
                           on_bad_rows=cfg.on_bad_rows, report=report)
    if cfg.eval_data:
        eval_ds = load_source(cfg.eval_data, required=[cfg.text_column], txt_unit=cfg.txt_unit,
                              on_bad_rows=cfg.on_bad_rows, report=report)
        return train_ds, eval_ds
    if cfg.eval_fraction <= 0:
        return train_ds, None
    parts = train_ds.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
    return parts["train"], parts["test"]


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


def get_tokenizer(settings: ModelSettings, out: Path, family: str, texts: Iterable[str] | None,
                  accelerator: Any = None):
    """The run's tokenizer: the one saved by an earlier attempt of this run, --tokenizer, the model
    folder's, or one trained on `texts` (saved to OUT/tokenizer so a resumed run reuses it). Under
    several processes the main one trains and saves it first; the others read what it saved."""
    if accelerator is not None and accelerator.num_processes > 1:
        with accelerator.main_process_first():
            return _tokenizer(settings, out, family, texts, follower=not accelerator.is_main_process)
    return _tokenizer(settings, out, family, texts, follower=False)


def _tokenizer(settings: ModelSettings, out: Path, family: str, texts: Iterable[str] | None, follower: bool):
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
    if follower:  # the main process has trained it and saved it there
        return AutoTokenizer.from_pretrained(str(saved))
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


def write_summary(out: str | Path, summary: dict[str, Any], command: str = "") -> None:
    """Write OUT/summary.json atomically, and OUT/model/README.md (a model card: what the model is,
    how it was trained, on what, and how it scored) when the run saved a model folder."""
    out = Path(out)
    atomic_write_json(out / "summary.json", summary)
    if (out / "model" / "config.json").is_file():
        atomic_write_text(out / "model" / "README.md", model_card(summary, command, out))


def model_card(summary: dict[str, Any], command: str, out: Path) -> str:
    """A Hugging Face style model card from a run's summary and settings (OUT/config.yaml)."""
    settings = (out / "config.yaml").read_text(encoding="utf-8") if (out / "config.yaml").is_file() else ""
    method = summary.get("objective") or summary.get("task") or ("instruction tuning" if command == "instruct" else "")
    rows = "\n".join(f"| {key} | {value} |" for key, value in summary.items()
                     if isinstance(value, (int, float, str)) and not isinstance(value, bool))
    return (f"---\nlibrary_name: transformers\ntags: [lmlearn, {command or 'train'}]\n---\n\n"
            f"# {out.name}\n\nTrained with `lmlearn {command}`: {method} from `{summary.get('model')}`.\n"
            f"Loads with `AutoModel*.from_pretrained` (the head of the method it was trained with).\n\n"
            f"## Results\n\n| key | value |\n|---|---|\n{rows}\n\n"
            f"## Settings (config.yaml)\n\n```yaml\n{settings}```\n")


def read_summary(out: str | Path) -> dict[str, Any]:
    """Read OUT/summary.json."""
    return json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
