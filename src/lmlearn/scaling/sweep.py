"""A scaling sweep: model sizes x token budgets, each point an ordinary `pretrain` run folder.

Every point shares one tokenizer and one held-out set, so the losses are comparable; each trains
with its own cosine schedule ending at its own budget (Hoffmann et al. 2022 find that a schedule
longer than the run overstates the loss of short runs); the learning rate follows a size rule.
A point whose folder holds a summary is done and skipped; one with checkpoints resumes from its
newest; so a killed sweep, run again, finishes what was left and fits the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class SweepConfig:
    """Settings of `lmlearn scaling sweep`."""

    models: str = option("preset:gpt2-0.02m,preset:gpt2-0.05m,preset:gpt2-0.1m,preset:gpt2-0.3m,preset:gpt2-1m,"
                         "preset:gpt2-3m",
                         "presets of one family, comma-separated (the ladder: `lmlearn models --family gpt2`)")
    tokens: str = option("5e5,1e6,2e6", "token budgets, comma-separated (each point trains on that many tokens)")
    data: str = option("builtin:corpus?docs=20000", "pre-training text: file, glob, dataset folder or builtin:NAME")
    eval_data: str = option("builtin:corpus?docs=400&seed=1",
                            "the one held-out set every point is scored on (never trained on)")
    eval_batches: int = option(25, "held-out batches scored per point (the same batches for every point)",
                               range=">=1")
    block_size: int = option(128, "tokens per sequence", range=">=8")
    batch_size: int = option(16, "sequences per step", range=">=1")
    lr_rule: Literal["kaplan", "fixed"] = option(
        "kaplan", "kaplan: 0.003239 - 0.0001395 ln N per size (Kaplan et al. 2020, eq. D.1); fixed: --lr for all")
    lr: float = option(2e-3, "the learning rate when --lr-rule fixed", range=">0")
    warmup_fraction: float = option(0.1, "linear warm-up over this share of each point's steps; cosine decay to "
                                          "the point's own last step after it", range="[0, 1)")
    vocab_size: int = option(4000, "vocabulary of the tokenizer trained once on --data for every point", range=">=1")
    tokenizer: str = option("", "a tokenizer folder to use instead of training one")
    text_column: str = option("text", "column holding the text")
    txt_unit: Literal["line", "paragraph", "file"] = option("line", "what one example of a .txt file is")
    seed: int = option(0, "seed of every point (initialization and data order)")
    progress: bool = option(False, "show a progress bar per point")
    out: str = option("runs/sweep", "output folder: one run folder per point, tokenizer/, points.csv")


def kaplan_lr(non_embedding: int) -> float:
    """Kaplan et al. 2020, eq. D.1: the learning rate that worked across their sizes,
    0.003239 - 0.0001395 log N (about 1.8e-3 at 25k parameters, 8.4e-4 at 30M)."""
    return 0.003239 - 0.0001395 * math.log(non_embedding)


@dataclass(frozen=True)
class Point:
    """One (size, budget) cell of the grid."""

    model: str
    tokens: int
    steps: int

    @property
    def name(self) -> str:
        return f"{self.model}-{tokens_label(self.tokens)}"


def tokens_label(tokens: int) -> str:
    """2000000 -> '2M', 500000 -> '500k': folder names that sort and read."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if tokens >= size:
            value = tokens / size
            return f"{value:g}{unit}"
    return str(tokens)


def parse_tokens(text: str, flag: str = "--tokens") -> list[int]:
    """'5e5,1e6,2M' -> [500000, 1000000, 2000000]."""
    budgets = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(part[-1].lower(), 1)
        try:
            value = float(part[:-1] if scale > 1 else part) * scale
        except ValueError:
            raise LmlearnError(f"{flag} {text}: '{part}' is not a token count (e.g. 5e5, 1M, 2e6)") from None
        if value < 1:
            raise LmlearnError(f"{flag} {text}: '{part}' must be at least one token")
        budgets.append(int(value))
    if not budgets:
        raise LmlearnError(f"{flag}: give one or more token budgets, e.g. 5e5,1e6,2e6")
    return sorted(set(budgets))


def grid(models: list[str], budgets: list[int], tokens_per_step: int) -> list[Point]:
    """Every size at every budget, smallest first; a budget is rounded up to whole steps."""
    return [Point(model, tokens, math.ceil(tokens / tokens_per_step)) for model in models for tokens in budgets]


def state(out: Path) -> str:
    """'done' (a summary), 'partial' (a complete checkpoint to resume from) or 'new'."""
    from lmlearn.driver import has_checkpoint

    if (out / "summary.json").is_file():
        return "done"
    return "partial" if has_checkpoint(out) else "new"


def run_point(point: Point, out: Path, lr: float, warmup: int, base: dict[str, Any],
              train: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Train one point (or resume it) with `train` (the pretrain workflow); return its summary."""
    from lmlearn.workflows.pretrain import PretrainConfig

    now = state(out)
    if now == "done":
        return json.loads((out / "summary.json").read_text())
    cfg = PretrainConfig(**{**base, "model": point.model, "max_steps": point.steps, "lr": lr,
                            "warmup_steps": warmup, "out": str(out), "resume": now == "partial",
                            "overwrite": now == "new"})
    return train(cfg)


def write_points(rows: list[dict[str, Any]], path: Path) -> None:
    """points.csv: what `lmlearn scaling fit --points` reads (params = non-embedding N), plus the run's facts."""
    from lmlearn.io import atomic_write_text

    columns = ["params", "tokens", "loss", "model", "parameters", "steps", "lr", "flops", "run"]
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(str(row[c]) for c in columns))
    atomic_write_text(path, "\n".join(lines) + "\n")


def sweep(cfg: SweepConfig) -> list[dict[str, Any]]:
    """Train the points not yet done (printing a line per point), write OUT/points.csv; return its rows."""
    from lmlearn.data.sources import iter_texts, load_source
    from lmlearn.io import atomic_write_dir, atomic_write_text
    from lmlearn.models.factory import describe_presets
    from lmlearn.models.presets import PREFIX, parse_preset
    from lmlearn.tokenization import train_tokenizer
    from lmlearn.workflows.pretrain import run

    # bare names: they name the run folders (OUT/gpt2-0.1m-1M) and the ladder's rows
    models = [m.strip().removeprefix(PREFIX) for m in cfg.models.split(",") if m.strip()]
    parsed = [(m, parse_preset(m)) for m in models]
    unknown = [m for m, p in parsed if p is None]
    if unknown or not models:
        raise LmlearnError(f"--models {cfg.models}: {', '.join(unknown) or 'none given'} is not a preset "
                           "(`lmlearn models` lists them)")
    families = sorted({p[0] for _, p in parsed})
    if len(families) > 1:
        raise LmlearnError(f"--models {cfg.models}: one family per sweep (got {', '.join(families)}): the points "
                           "share one tokenizer and one held-out set")
    points = grid(models, parse_tokens(cfg.tokens), cfg.block_size * cfg.batch_size)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.json", json.dumps(asdict(cfg), indent=2) + "\n")
    tokenizer = cfg.tokenizer or str(out / "tokenizer")
    if not cfg.tokenizer and not (out / "tokenizer").is_dir():
        texts = iter_texts(load_source(cfg.data, required=[cfg.text_column], txt_unit=cfg.txt_unit), cfg.text_column)
        tok = train_tokenizer(texts, family=families[0], vocab_size=cfg.vocab_size)
        atomic_write_dir(out / "tokenizer", lambda tmp: tok.save_pretrained(str(tmp)))
    base = dict(objective="clm", data=cfg.data, eval_data=cfg.eval_data, eval_batches=cfg.eval_batches,
                tokenizer=tokenizer, block_size=cfg.block_size, batch_size=cfg.batch_size, eval_every=0,
                text_column=cfg.text_column, txt_unit=cfg.txt_unit, seed=cfg.seed, progress=cfg.progress,
                log_every=10)
    described = {r["name"]: r["non_embedding_parameters"] for r in describe_presets()}
    sizes = {m: described[m] for m in models}
    rows = []
    for i, point in enumerate(points, 1):
        folder = out / point.name
        before = state(folder)
        lr = kaplan_lr(sizes[point.model]) if cfg.lr_rule == "kaplan" else cfg.lr
        warmup = int(cfg.warmup_fraction * point.steps)
        # checkpoints every tenth of a point: a killed sweep loses at most that much of one point
        summary = run_point(point, folder, lr, warmup, {**base, "save_every": max(point.steps // 10, 1)}, run)
        n = summary.get("non_embedding_parameters") or sizes[point.model]
        rows.append({"params": n, "tokens": summary["tokens_seen"], "loss": summary["eval_loss"],
                     "model": point.model, "parameters": summary["parameters"], "steps": summary["steps"],
                     "lr": f"{lr:.4g}", "flops": f"{6 * n * summary['tokens_seen']:.4g}", "run": point.name})
        print(f"[{i}/{len(points)}] {point.name}: N {n:,}, {summary['tokens_seen']:,} tokens, lr {lr:.3g}, "
              f"held-out loss {summary['eval_loss']:.4f}" + (" (done before)" if before == "done" else ""),
              flush=True)
    write_points(rows, out / "points.csv")
    return rows

