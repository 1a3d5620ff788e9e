"""The driver: what every training workflow does around the engine, in one place.

It resolves `--model` once (a preset, a model folder, a run folder holding `model/`, or a Hugging Face
Hub id found in the local cache or downloaded), creates the Accelerator before anything else and
prepares the output folder on the main process, reads data main-process-first, finds or trains the
tokenizer, puts `--peft` on the model, hands model, method and batches to the engine, and saves the
model (or adapter), config.yaml, summary.json and a model card. A workflow (`lmlearn.workflows.*`)
is the method-specific wiring between these calls.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

from lmlearn.engine.checkpoint import list_checkpoints
from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_dir, atomic_write_json, atomic_write_text
from lmlearn.models.factory import save_model
from lmlearn.models.spec import ModelSpec, check_family, resolve_model

__all__ = ["Driver", "ModelSpec", "resolve_model", "save_model", "start_run", "text_splits", "write_summary"]

class Driver:
    """One training run around the engine. Construct it with the run's settings once they are checked:
    it resolves the model, starts the Accelerator and prepares OUT; then the workflow calls `read`,
    `tokenizer`, `build`, `train`, `save` and `finish` in that order (each only where it applies)."""

    def __init__(self, cfg: Any, command: str, model: ModelSpec | None = None, families: Iterable[str] = (),
                 what: str = "", head: str | None = None, resolve: bool = True):
        from lmlearn.data.sources import ReadReport

        self.command, self.given = command, cfg  # the settings as given (written to config.yaml)
        self.model = model or (resolve_model(cfg.model) if resolve else None)
        if self.model is not None and families:
            check_family(self.model, families, what or f"lmlearn {command}")
        self.peft = getattr(cfg, "peft", None)
        if self.peft and head and self.model is not None:
            from lmlearn.adapters.apply import check_peft

            check_peft(self.peft, self.model.family, head)
        # the settings the run works with: --model replaced by what loaders read (a folder, or the preset)
        self.cfg = dataclasses.replace(cfg, model=self.model.path) if self.model is not None else cfg
        self.accelerator, self.out = start_run(cfg)
        self.report = ReadReport()

    @property
    def family(self) -> str | None:
        return None if self.model is None else self.model.family

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def read(self, read: Callable[[Any], Any]) -> Any:
        """`read(report)` on the main process first (it fills the datasets cache; the others then read it);
        malformed rows skipped under --on-bad-rows skip are counted in `report` and announced once."""
        with self.accelerator.main_process_first():
            result = read(self.report)
        if self.report.skipped:
            print(f"skipped {self.report.skipped} malformed rows, first: {self.report.first_problems[0]}")
        return result

    def tokenizer(self, texts: Iterable[str] | None) -> Any:
        """The run's tokenizer: an earlier attempt's, --tokenizer, the model's, or one trained on `texts`."""
        return get_tokenizer(self.cfg, self.out, self.family, texts, self.accelerator)

    def build(self, build: Callable[[], Any], head: str, tokenizer: Any, load_4bit: bool = True, what: str = "",
              **model_kwargs: Any) -> Any:
        """`build()`'s model, or with --peft the adapter on it (QLoRA reads a pre-trained folder straight into
        4 bits when `load_4bit`; a preset base is saved to OUT/base, its random weights being the adapter's)."""
        if not self.peft:
            return build()
        from lmlearn.adapters.apply import build_peft_model

        return build_peft_model(self.cfg, self.family, head, tokenizer, self.cfg.model, self.out, build,
                                load_4bit=load_4bit, what=what or "this run", **model_kwargs)

    def adapt(self, model: Any, head: str, tokenizer: Any, grew: bool = False, family: str | None = None) -> Any:
        """With --peft, the adapter on an already built model (`grew`: the model differs from --model's, e.g. its
        vocabulary grew for a chat template or it is a student built from a teacher, so the base the adapter
        belongs to is saved to OUT/base); without, the model. `family` when the driver resolved no --model."""
        if not self.peft:
            return model
        from lmlearn.adapters.apply import apply_peft

        if grew and self.is_main:
            self._base = save_model(model, tokenizer, self.out / "base").resolve()
        return apply_peft(model, self.cfg, family or self.family, head, tokenizer)

    def train(self, model: Any, method: Any, train_examples: Any, held_out: Any = None,
              frozen: dict[str, Any] | None = None) -> Any:
        """Write OUT/config.yaml (the settings as given), then train on the engine; returns its result."""
        from lmlearn import config
        from lmlearn.engine.loop import train

        if self.is_main:
            config.save(self.given, self.out / "config.yaml")
        self.result = train(model, method, train_examples, held_out, self.cfg, self.out,
                            run_config=config.to_dict(self.given), frozen=frozen or None,
                            accelerator=self.accelerator)
        return self.result

    def unwrap(self, model: Any) -> Any:
        return self.accelerator.unwrap_model(model)

    @property
    def adapter_base(self) -> str:
        base = getattr(self, "_base", None)
        return str(base) if base is not None else self.model.adapter_base(self.out)

    def save(self, trained: Any, tokenizer: Any, save: Callable[[Any, Path], Any] | None = None) -> None:
        """On the main process: OUT/adapter under --peft (against its base), else OUT/model (`save(model,
        folder)` when the method saves its own way, e.g. an objective's extra networks)."""
        if not self.is_main:
            return
        if self.peft:
            from lmlearn.adapters.apply import save_adapter

            save_adapter(trained, tokenizer, self.out / "adapter", base=self.adapter_base)
        elif save is not None:
            save(trained, self.out / "model")
        else:
            save_model(trained, tokenizer, self.out / "model")

    def write(self, name: str, rows: Iterable[dict[str, Any]]) -> None:
        """OUT/name as JSON lines, atomically, on the main process."""
        if self.is_main:
            atomic_write_text(self.out / name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """OUT/summary.json and the model card, on the main process; returns the summary (with the process's peak
        GPU memory when it ran on one)."""
        from lmlearn.engine.flops import gpu_peak_mb

        if (peak := gpu_peak_mb()) is not None:
            summary = {**summary, "gpu_peak_mb": peak}
        if self.is_main:
            write_summary(self.out, summary, self.command)
        return summary

    def trained_summary(self, trained: Any) -> dict[str, Any]:
        """The summary fields every training workflow reports: the model, its parameters, steps and losses."""
        from lmlearn.adapters.apply import parameter_summary

        r = self.result
        head = ({"model": self.given.model, "model_source": self.model.kind, "family": self.family}
                if self.model is not None else {})
        return {**head, "peft": self.peft, **parameter_summary(trained), "steps": r.step,
                "tokens_seen": r.tokens_seen, "final_train_loss": r.train_loss,
                "initial_eval_loss": r.initial_eval_loss, "eval_loss": r.eval_loss}


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


def labelled_sample(rows: Any, n: int, seed: int) -> Any:
    """`n` of the training rows drawn with `seed` (0: all of them), for learning curves over labelled-set
    sizes; the same seed draws the same rows in finetune and distill, so their arms see the same labels."""
    if not n:
        return rows
    if n > len(rows):
        raise LmlearnError(f"--train-examples {n}: the training data has only {len(rows)} rows")
    return rows.shuffle(seed=seed).select(range(n))


def has_checkpoint(out: str | Path) -> bool:
    """Whether `out` holds a complete checkpoint to resume from."""
    return bool(list_checkpoints(Path(out) / "checkpoints"))


def get_tokenizer(settings: Any, out: Path, family: str | None, texts: Iterable[str] | None,
                  accelerator: Any = None):
    """The run's tokenizer: the one saved by an earlier attempt of this run, --tokenizer, the model
    folder's, or one trained on `texts` (saved to OUT/tokenizer so a resumed run reuses it). Under
    several processes the main one trains and saves it first; the others read what it saved."""
    if accelerator is not None and accelerator.num_processes > 1:
        with accelerator.main_process_first():
            return _tokenizer(settings, out, family, texts, follower=not accelerator.is_main_process)
    return _tokenizer(settings, out, family, texts, follower=False)


def _tokenizer(settings: Any, out: Path, family: str | None, texts: Iterable[str] | None, follower: bool):
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
    base = summary.get("model") or summary.get("teacher")
    rows = "\n".join(f"| {key} | {value} |" for key, value in summary.items()
                     if isinstance(value, (int, float, str)) and not isinstance(value, bool))
    front = f"base_model: {base}\n" if summary.get("model_source") == "hub" else ""
    return (f"---\nlibrary_name: transformers\n{front}tags: [lmlearn, {command or 'train'}]\n---\n\n"
            f"# {out.name}\n\nTrained with `lmlearn {command}`: {method} from `{base}`.\n"
            f"Loads with `AutoModel*.from_pretrained` (the head of the method it was trained with).\n\n"
            f"## Results\n\n| key | value |\n|---|---|\n{rows}\n\n"
            f"## Settings (config.yaml)\n\n```yaml\n{settings}```\n")


def read_summary(out: str | Path) -> dict[str, Any]:
    """Read OUT/summary.json."""
    return json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
