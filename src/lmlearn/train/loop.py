"""The shared training loop: AdamW, warm-up and decay, accumulation, clipping, evaluation,
atomic checkpoints with exact resume, signal handling and a stop on a non-finite loss.

A learning method plugs in as an `Objective`: it turns examples into a batch (`collate`) and a
batch into a loss (`loss`). Data order and every random draw are functions of (seed, step), so a
resumed run repeats an uninterrupted one step for step.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from lmlearn.errors import LmlearnError
from lmlearn.train.checkpoint import list_checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from lmlearn.train.metrics import MetricsLog
from lmlearn.train.optim import make_optimizer, make_scheduler
from lmlearn.train.settings import TrainSettings

# Settings that may change between an interrupted run and its resumption without changing the losses.
_RESUME_FREE = {"resume", "overwrite", "progress", "tensorboard", "log_every", "save_every", "keep_last",
                "eval_every", "eval_batches", "debug"}


class Objective(Protocol):
    """What a learning method supplies to the loop."""

    def collate(self, examples: Any, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Turn raw examples into a model batch; all randomness comes from `generator`."""

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar loss to minimise on `batch`."""


class TrainingInterrupted(LmlearnError):
    """SIGINT/SIGTERM arrived; a checkpoint was saved first."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclass
class TrainResult:
    """What a finished run reports."""

    step: int
    tokens_seen: int
    train_loss: float
    initial_eval_loss: float | None
    eval_loss: float | None
    wall_time: float
    accelerator: Accelerator


class BatchOrder:
    """Which examples micro-batch g holds: a fresh seeded permutation each epoch, drop-last."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.per_epoch = n // (batch_size * world)
        if self.per_epoch == 0:
            raise LmlearnError(f"only {n} training examples, fewer than one batch of {batch_size * world}; "
                               "use more data or a smaller --batch-size")
        self._epoch, self._perm = -1, None

    def indices(self, g: int) -> torch.Tensor:
        """Example indices of global micro-batch `g` for this process."""
        epoch, pos = divmod(g, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        start = (pos * self.world + self.rank) * self.size
        return self._perm[start:start + self.size]


def take(data: Any, idx: torch.Tensor) -> Any:
    """The examples at `idx`: one indexing op for a tensor of blocks, a list for anything else."""
    return data[idx] if isinstance(data, torch.Tensor) else [data[i] for i in idx.tolist()]


def _generator(seed: int, g: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + g)


def _count_tokens(batch: dict[str, torch.Tensor]) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else batch["input_ids"].numel()


@torch.no_grad()
def evaluate(model: torch.nn.Module, objective: Objective, data: Any, settings: TrainSettings,
             accelerator: Accelerator) -> float:
    """Mean loss over the first `eval_batches` batches of `data` (same batches, same masks every time)."""
    was_training = model.training
    model.eval()
    losses = []
    n = len(data)
    for b in range(min(settings.eval_batches, math.ceil(n / settings.batch_size))):
        idx = torch.arange(b * settings.batch_size, min(n, (b + 1) * settings.batch_size))
        batch = {k: v.to(accelerator.device) for k, v in objective.collate(take(data, idx), _generator(-1, b)).items()}
        with accelerator.autocast():
            losses.append(objective.loss(model, batch).float())
    model.train(was_training)
    return torch.stack(losses).mean().item()


def _precision(settings: TrainSettings) -> str:
    if settings.precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return "no" if settings.precision == "fp32" else settings.precision


def _check_resumable(saved: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    for key in sorted(set(saved) | set(now)):
        if key not in _RESUME_FREE and saved.get(key) != now.get(key):
            raise LmlearnError(f"cannot resume from {where}: '{key}' was {saved.get(key)!r}, now {now.get(key)!r} "
                               "(resume with the same settings, or start over with --overwrite)")


@contextmanager
def _without_kv_cache(model: torch.nn.Module) -> Iterator[None]:
    """A KV cache serves generation; built in every training forward it only costs time (Trainer
    switches it off too). The saved model keeps its setting."""
    config = getattr(model, "config", None)
    use_cache = getattr(config, "use_cache", None)
    if use_cache is not None:
        config.use_cache = False
    try:
        yield
    finally:
        if use_cache is not None:
            config.use_cache = use_cache


def train(model: torch.nn.Module, objective: Objective, train_data: Any, eval_data: Any,
          settings: TrainSettings, out_dir: str | Path, run_config: dict[str, Any] | None = None) -> TrainResult:
    """Train `model` on `train_data` with `objective`; checkpoints and metrics.jsonl go to `out_dir`."""
    with _without_kv_cache(model):
        return _train(model, objective, train_data, eval_data, settings, out_dir, run_config)


def _train(model: torch.nn.Module, objective: Objective, train_data: Any, eval_data: Any,
           settings: TrainSettings, out_dir: str | Path, run_config: dict[str, Any] | None) -> TrainResult:
    out, run_config = Path(out_dir), run_config or {}
    ckpt_dir = out / "checkpoints"
    accelerator = Accelerator(mixed_precision=_precision(settings))
    optimizer = make_optimizer(model, settings)
    scheduler = make_scheduler(optimizer, settings)
    start_step, tokens_seen, elapsed, initial_eval, state = 0, 0, 0.0, None, None
    latest = list_checkpoints(ckpt_dir)[-1] if settings.resume and list_checkpoints(ckpt_dir) else None
    if latest is not None:
        weights, state = load_checkpoint(latest)
        _check_resumable(state["config"], run_config, latest)
        model.load_state_dict(weights)
        start_step, tokens_seen, elapsed = state["step"], state["tokens_seen"], state["elapsed"]
        initial_eval = state["initial_eval_loss"]
    model, optimizer = accelerator.prepare(model, optimizer)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    if settings.compile:
        model = torch.compile(model)
    order = BatchOrder(len(train_data), settings.batch_size, settings.seed,
                       accelerator.process_index, accelerator.num_processes)
    metrics = MetricsLog(out, start_step if latest is not None else None, settings.tensorboard,
                         enabled=accelerator.is_main_process)
    if start_step == 0 and eval_data is not None:
        initial_eval = evaluate(model, objective, eval_data, settings, accelerator)

    def checkpoint(step: int) -> Path:
        path = ckpt_dir / f"step-{step:08d}"
        if not accelerator.is_main_process:  # one writer; the others wait for it
            accelerator.wait_for_everyone()
            return path
        state = {"step": step, "tokens_seen": tokens_seen, "elapsed": elapsed, "config": run_config,
                 "initial_eval_loss": initial_eval, "rng": rng_state(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
        save_checkpoint(ckpt_dir, step, accelerator.unwrap_model(model), state, settings.keep_last)
        accelerator.wait_for_everyone()
        return path

    received: list[int] = []

    def on_signal(signum: int, _: Any) -> None:
        if received:  # a second Ctrl-C means stop now, without the checkpoint
            raise KeyboardInterrupt
        received.append(signum)

    handlers = {}
    if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
        handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    # disable=None: tqdm switches itself off when output is not a terminal (logs, CI)
    bar = tqdm(total=settings.max_steps, initial=start_step, desc="training", dynamic_ncols=True,
               disable=True if not settings.progress else None)
    step, eval_loss, last_loss = start_step, None, float("nan")
    window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
    model.train()
    try:
        while step < settings.max_steps:
            t0 = time.perf_counter()
            step_loss = torch.zeros((), device=accelerator.device)
            for micro in range(settings.grad_accum):
                g = step * settings.grad_accum + micro
                batch = objective.collate(take(train_data, order.indices(g)), _generator(settings.seed, g))
                batch = {k: v.to(accelerator.device, non_blocking=True) for k, v in batch.items()}
                last_micro = micro == settings.grad_accum - 1
                with accelerator.no_sync(model) if not last_micro else nullcontext(), accelerator.autocast():
                    loss = objective.loss(model, batch)
                accelerator.backward(loss / settings.grad_accum)
                step_loss += loss.detach() / settings.grad_accum
                window_tokens += _count_tokens(batch) * accelerator.num_processes
            grad_norm = (accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                         if settings.max_grad_norm > 0 else torch.zeros(()))
            loss_value, norm_value = step_loss.item(), float(grad_norm)
            if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                kept = list_checkpoints(ckpt_dir)
                where = f"the last good checkpoint is {kept[-1]}" if kept else "no checkpoint was written yet"
                raise LmlearnError(f"loss became {loss_value} (gradient norm {norm_value}) at step {step + 1}; "
                                   f"stopped without saving; {where} (try a lower --lr)")
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_time += time.perf_counter() - t0
            window_loss, window_steps = window_loss + loss_value, window_steps + 1
            do_eval = eval_data is not None and (step == settings.max_steps or
                                                 settings.eval_every and step % settings.eval_every == 0)
            save = step % settings.save_every == 0 or step == settings.max_steps or bool(received)
            if do_eval or save or step % settings.log_every == 0:
                tokens_seen += window_tokens
                elapsed += window_time
                record = {"step": step, "loss": window_loss / window_steps,
                          "lr": lr, "tokens_per_sec": window_tokens / max(window_time, 1e-9),
                          "grad_norm": norm_value, "tokens_seen": tokens_seen, "elapsed": round(elapsed, 3)}
                if do_eval:
                    eval_loss = evaluate(model, objective, eval_data, settings, accelerator)
                    record.update(eval_loss=eval_loss, eval_ppl=math.exp(min(eval_loss, 50)))
                metrics.log(record)
                last_loss = record["loss"]
                bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_sec']:.0f}")
                window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
            bar.update(1)
            if received:
                path = checkpoint(step)
                raise TrainingInterrupted(f"interrupted at step {step}; checkpoint saved to {path}; "
                                          "continue with --resume", received[0])
            if save:
                checkpoint(step)
        if eval_loss is None and eval_data is not None:  # resumed a run that had already finished
            eval_loss = evaluate(model, objective, eval_data, settings, accelerator)
    finally:
        bar.close()
        metrics.close()
        for s, h in handlers.items():
            signal.signal(s, h)
    return TrainResult(step=step, tokens_seen=tokens_seen, train_loss=last_loss, initial_eval_loss=initial_eval,
                       eval_loss=eval_loss, wall_time=elapsed, accelerator=accelerator)
