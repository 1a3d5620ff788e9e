"""The engine: one training loop for every method (see `engine/method.py` for what a method declares).

AdamW, warm-up and decay, token-weighted gradient accumulation, clipping, evaluation, atomic
checkpoints with exact resume (at any step, the partial logging window included), signal handling,
an fp16-aware stop on non-finite losses, and data-parallel runs through accelerate.

Randomness: data order and every draw of a method are functions of (seed, micro-batch index). Each
process collates the whole global micro-batch and keeps its own rows (`method.shard`), so the masks of
an N-process run are those of a one-process run with the global batch, and differ between processes.

Token weighting: a step's loss is the mean over every unit (token, usually) of all its micro-batches
on all processes, not the mean of micro-batch means, which would weigh short SFT batches up.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from lmlearn.engine.checkpoint import list_checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from lmlearn.engine.flops import flops_per_token, peak_flops
from lmlearn.engine.method import Models, StepOutput, run_step, shard
from lmlearn.engine.metrics import MetricsLog, tracker_names
from lmlearn.engine.optim import make_optimizer, make_scheduler
from lmlearn.engine.settings import TrainSettings
from lmlearn.errors import LmlearnError

# Settings that may change between an interrupted run and its resumption without changing the losses.
_RESUME_FREE = {"resume", "overwrite", "progress", "tensorboard", "report_to", "log_every", "save_every", "keep_last",
                "eval_every", "eval_batches", "debug", "peak_flops", "gradient_checkpointing"}


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
    skipped_steps: int = 0
    eval_metrics: dict[str, float] = field(default_factory=dict)
    best_step: int | None = None  # --early-stopping: the step whose weights the model ends with
    stopped_early: bool = False


class BatchOrder:
    """Which examples global micro-batch g holds: a fresh seeded permutation each epoch, drop-last."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size
        if self.per_epoch == 0:
            raise LmlearnError(f"only {n} training examples, fewer than one batch of {batch_size}; "
                               "use more data or a smaller --batch-size")
        self._epoch, self._perm = -1, None

    def indices(self, g: int) -> torch.Tensor:
        """Example indices of global micro-batch `g`."""
        epoch, pos = divmod(g, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        return self._perm[pos * self.size:(pos + 1) * self.size]


def take(data: Any, idx: torch.Tensor) -> Any:
    """The examples at `idx`: one indexing op for a tensor of blocks, a list for anything else."""
    return data[idx] if isinstance(data, torch.Tensor) else [data[i] for i in idx.tolist()]


def _generator(seed: int, g: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + g)


def _count_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens the model read (for throughput), not the units the loss averages over: every attention mask's
    (a preference batch has `chosen_attention_mask` and `rejected_attention_mask`), else the input ids'."""
    masks = [v for k, v in batch.items() if k.endswith("attention_mask") and isinstance(v, torch.Tensor)]
    if masks:
        return int(sum(int(m.sum()) for m in masks))
    ids = batch.get("input_ids")
    return ids.numel() if ids is not None else 0


def make_accelerator(settings: TrainSettings) -> Accelerator:
    """The run's Accelerator; a command creates it first, so that only the main process trains a
    tokenizer, prepares data caches and writes files. Without a GPU it asks for the CPU, so that
    `torchrun` or `accelerate launch --multi_gpu` with N processes trains data-parallel over gloo."""
    from accelerate.state import AcceleratorState

    precision = _precision(settings)
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", precision) != precision and not torch.distributed.is_initialized():
        # accelerate keeps one state per process; a second run in one process (the tour, a notebook)
        # at another precision starts it again (with several processes the precision is fixed at launch)
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())


def _precision(settings: TrainSettings) -> str:
    if settings.precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return "no" if settings.precision == "fp32" else settings.precision


def _check_resumable(saved: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    # with early stopping, when and how much is evaluated decides where the run stops and which weights it keeps
    free = _RESUME_FREE - ({"eval_every", "eval_batches"} if saved.get("early_stopping") else set())
    for key in sorted(set(saved) | set(now)):
        if key not in free and saved.get(key) != now.get(key):
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


class Window:
    """Sums over the steps since the last metrics line: loss and metrics weighted by their units."""

    def __init__(self, state: dict[str, Any] | None = None):
        state = state or {}
        self.loss, self.units = state.get("loss", 0.0), state.get("units", 0.0)
        self.metrics: dict[str, float] = dict(state.get("metrics", {}))
        self.tokens, self.time = state.get("tokens", 0), state.get("time", 0.0)

    def state(self) -> dict[str, Any]:
        return {"loss": self.loss, "units": self.units, "metrics": dict(self.metrics), "tokens": self.tokens,
                "time": self.time}

    def reduce(self, accelerator: Accelerator) -> "Window":
        """The window summed over processes (every process must call it)."""
        if accelerator.num_processes == 1:
            return self
        names = sorted(self.metrics)
        local = torch.tensor([self.loss, self.units, float(self.tokens)] + [self.metrics[n] for n in names],
                             dtype=torch.float64, device=accelerator.device)
        total = accelerator.reduce(local, "sum").tolist()
        return Window({"loss": total[0], "units": total[1], "tokens": int(total[2]), "time": self.time,
                       "metrics": dict(zip(names, total[3:]))})


class Best:
    """--early-stopping: the best evaluation so far, its step and a CPU copy of the trainable weights then.

    Best is the lowest held-out loss, or the highest value of a named metric, where a tie counts as an
    improvement: the later weights are kept and the patience starts again (an accuracy on a small
    validation set ties often, and early in training the tied evaluations are those of a model that
    has not learned yet; unlike transformers' EarlyStoppingCallback, a plateau of ties does not stop).
    Only trainable tensors are copied (an adapter's, not the frozen base's); the copy travels with
    checkpoints, so a resumed run stops and ends where the uninterrupted one would.
    """

    def __init__(self, metric: str, state: dict[str, Any] | None = None):
        state = state or {}
        self.metric = metric
        self.score: float = state.get("score", -math.inf)  # larger is better: -loss, or the metric
        self.step: int | None = state.get("step")
        self.since: int = state.get("since", 0)  # evaluations in a row without improvement
        self.weights: dict[str, torch.Tensor] = state.get("weights", {})

    def update(self, model: torch.nn.Module, loss: float, metrics: dict[str, float], step: int) -> None:
        if self.metric == "loss":
            score = -loss
            better = score > self.score
        elif self.metric in metrics:
            score = metrics[self.metric]
            better = score >= self.score
        else:
            raise LmlearnError(f"--early-stopping-metric {self.metric}: this method logs "
                               f"{', '.join(['loss', *sorted(metrics)])} on held-out data")
        if better:
            self.score, self.step, self.since = score, step, 0
            self.weights = {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()
                            if p.requires_grad}
        else:
            self.since += 1

    def restore(self, model: torch.nn.Module) -> None:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in self.weights.items():
                params[name].copy_(value.to(params[name].device))

    def state(self) -> dict[str, Any]:
        return {"score": self.score, "step": self.step, "since": self.since, "weights": self.weights}


def evaluate(model: torch.nn.Module, method: Any, data: Any, settings: TrainSettings, accelerator: Accelerator,
             frozen: dict[str, torch.nn.Module] | None = None) -> tuple[float, dict[str, float]]:
    """The unit-weighted mean loss (and metrics) over the first `eval_batches` global batches of `data`:
    the same batches and masks every time, whatever the number of processes, each row scored by one."""
    model = accelerator.unwrap_model(model)  # no DDP collectives: processes may score different numbers of rows
    was_training = model.training
    model.eval()
    models = Models(model, frozen)
    world, rank = accelerator.num_processes, accelerator.process_index
    n, size = len(data), settings.batch_size * world
    loss, units, sums = 0.0, 0.0, {}
    with torch.no_grad():
        for b in range(min(settings.eval_batches, math.ceil(n / size))):
            idx = torch.arange(b * size, min(n, (b + 1) * size))
            if rank * len(idx) // world == (rank + 1) * len(idx) // world:
                continue  # a last batch with fewer rows than processes: nothing left for this one
            full = method.collate(take(data, idx), _generator(-1, b))
            batch = {k: v.to(accelerator.device) if isinstance(v, torch.Tensor) else v
                     for k, v in shard(method, full, len(idx), rank, world).items()}
            with accelerator.autocast():
                out = run_step(method, models, batch)
            weight = float(out.tokens)
            loss += float(out.loss) * weight
            units += weight
            for name, value in out.metrics.items():
                sums[name] = sums.get(name, 0.0) + float(value) * weight
    model.train(was_training)
    window = Window({"loss": loss, "units": units, "metrics": sums}).reduce(accelerator)
    scale = 1 / max(window.units, 1e-12)
    return window.loss * scale, {name: value * scale for name, value in window.metrics.items()}


def train(model: torch.nn.Module, method: Any, train_data: Any, eval_data: Any, settings: TrainSettings,
          out_dir: str | Path, run_config: dict[str, Any] | None = None, *,
          frozen: dict[str, torch.nn.Module] | None = None, accelerator: Accelerator | None = None) -> TrainResult:
    """Train `model` with `method` on `train_data` (None for an online method); checkpoints and
    metrics.jsonl go to `out_dir`. `frozen` models (a teacher, a reference) reach the method's step."""
    with _without_kv_cache(model):
        return _Run(model, method, train_data, eval_data, settings, Path(out_dir), run_config or {}, frozen,
                    accelerator or make_accelerator(settings)).run()


class _Run:
    """One training run: set up, resume, then steps until max_steps or a signal."""

    def __init__(self, model: torch.nn.Module, method: Any, train_data: Any, eval_data: Any,
                 settings: TrainSettings, out: Path, run_config: dict[str, Any],
                 frozen: dict[str, torch.nn.Module] | None, accelerator: Accelerator):
        self.method, self.train_data, self.eval_data, self.settings = method, train_data, eval_data, settings
        self.out, self.run_config, self.accelerator = out, run_config, accelerator
        self.ckpt_dir = out / "checkpoints"
        self.world, self.rank = accelerator.num_processes, accelerator.process_index
        if settings.gradient_checkpointing:
            _enable_gradient_checkpointing(model)
        self.frozen = {name: m.to(accelerator.device).eval().requires_grad_(False)
                       for name, m in (frozen or {}).items()}
        self.model = model
        self.online = bool(getattr(method, "online", False))
        if not self.online:
            self.order = BatchOrder(len(train_data), settings.batch_size * self.world, settings.seed)

    # --- one micro-batch -------------------------------------------------------------------------

    def batch(self, g: int, models: Models) -> dict[str, torch.Tensor]:
        """This process's rows of global micro-batch g, on the device."""
        generator = _generator(self.settings.seed, g)
        rows = self.settings.batch_size * self.world
        if self.online:  # under the step's autocast, so e.g. rollout log-probabilities match the update's
            with self.accelerator.autocast():
                full = self.method.produce(models, g, generator)
        else:
            full = self.method.collate(take(self.train_data, self.order.indices(g)), generator)
        part = shard(self.method, full, rows, self.rank, self.world)
        return {k: v.to(self.accelerator.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in part.items()}

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        s, acc = self.settings, self.accelerator
        if s.early_stopping and (self.eval_data is None or not s.eval_every):
            raise LmlearnError(f"--early-stopping {s.early_stopping} compares held-out evaluations every --eval-every "
                               "steps; this run has " + ("no held-out data" if self.eval_data is None
                                                         else "--eval-every 0"))
        optimizer = make_optimizer(self.model, s)
        scheduler = make_scheduler(optimizer, s)
        start_step, tokens_seen, elapsed, initial_eval, state = 0, 0, 0.0, None, None
        skipped = 0
        latest = list_checkpoints(self.ckpt_dir)[-1] if s.resume and list_checkpoints(self.ckpt_dir) else None
        if latest is not None:
            weights, state = load_checkpoint(latest)
            _check_resumable(state["config"], self.run_config, latest)
            self.model.load_state_dict(weights)
            start_step, tokens_seen, elapsed = state["step"], state["tokens_seen"], state["elapsed"]
            initial_eval, skipped = state["initial_eval_loss"], state.get("skipped_steps", 0)
            if "method" in state and hasattr(self.method, "load_state_dict"):
                self.method.load_state_dict(state["method"])
        model, optimizer = acc.prepare(self.model, optimizer)
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"])
        if s.compile:
            model = torch.compile(model)
        models = Models(model, self.frozen)
        # the partial logging window travels with the checkpoint; only the main process holds it
        window = Window(state.get("window") if state is not None and acc.is_main_process else None)
        best = Best(s.early_stopping_metric, state.get("best") if state is not None else None) \
            if s.early_stopping else None
        metrics = MetricsLog(self.out, start_step if latest is not None else None,
                             tracker_names(s.report_to, s.tensorboard) if acc.is_main_process else [],
                             enabled=acc.is_main_process, config=self.run_config)
        if start_step == 0 and self.eval_data is not None:
            initial_eval, _ = evaluate(model, self.method, self.eval_data, s, acc, self.frozen)
        params = [p for p in model.parameters() if p.requires_grad]
        peak = peak_flops(acc.device, s.peak_flops)
        per_token_flops: float | None = None

        def checkpoint(step: int) -> Path:
            nonlocal window
            window = window.reduce(acc)  # every process takes part; the main one keeps the sums
            if not acc.is_main_process:
                window = Window()
            path = self.ckpt_dir / f"step-{step:08d}"
            if acc.is_main_process:
                ckpt = {"step": step, "tokens_seen": tokens_seen, "elapsed": elapsed, "config": self.run_config,
                        "initial_eval_loss": initial_eval, "rng": rng_state(), "skipped_steps": skipped,
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "window": window.state()}
                if best is not None:
                    ckpt["best"] = best.state()
                if hasattr(self.method, "state_dict"):
                    ckpt["method"] = self.method.state_dict()
                save_checkpoint(self.ckpt_dir, step, acc.unwrap_model(model), ckpt, s.keep_last)
            acc.wait_for_everyone()
            return path

        received: list[int] = []

        def on_signal(signum: int, _: Any) -> None:
            if received:  # a second Ctrl-C means stop now, without the checkpoint
                raise KeyboardInterrupt
            received.append(signum)

        handlers = {}
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        # disable=None: tqdm switches itself off when output is not a terminal (logs, CI)
        bar = tqdm(total=s.max_steps, initial=start_step, desc="training", dynamic_ncols=True,
                   disable=True if not s.progress or not acc.is_main_process else None)
        step, eval_loss, eval_metrics, last_loss, bad_run = start_step, None, {}, float("nan"), 0
        stopped_early = best is not None and best.since >= s.early_stopping
        single = s.grad_accum == 1 and self.world == 1  # the mean's own gradient needs no rescaling
        model.train()
        try:
            while step < s.max_steps and not stopped_early:
                t0 = time.perf_counter()
                loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
                units = torch.zeros((), dtype=torch.float64, device=acc.device)
                sums: dict[str, torch.Tensor] = {}
                for micro in range(s.grad_accum):
                    g = step * s.grad_accum + micro
                    batch = self.batch(g, models)
                    if per_token_flops is None:
                        per_token_flops = flops_per_token(acc.unwrap_model(model), batch)
                    last = micro == s.grad_accum - 1
                    with acc.no_sync(model) if not last else nullcontext(), acc.autocast():
                        out: StepOutput = run_step(self.method, models, batch)
                    weight = torch.as_tensor(out.tokens, device=acc.device).to(torch.float64)
                    # a sum over units; the gradients are divided by every process's units below
                    acc.backward(out.loss if single else out.loss * weight.to(out.loss.dtype))
                    loss_sum += out.loss.detach().to(torch.float64) * weight
                    units += weight
                    for name, value in out.metrics.items():
                        value = torch.as_tensor(value, device=acc.device).detach().to(torch.float64)
                        sums[name] = sums.get(name, 0) + value * weight
                    window.tokens += _count_tokens(batch)  # this process's; summed over processes when logged
                if not single:
                    total = acc.reduce(units.clone(), "sum") if self.world > 1 else units
                    # DDP averaged the processes' gradients, so world/total turns sums into the mean
                    scale = self.world / max(float(total), 1e-12)
                    grads = [p.grad for p in params if p.grad is not None]
                    if grads:
                        torch._foreach_mul_(grads, scale)
                grad_norm = (acc.clip_grad_norm_(model.parameters(), s.max_grad_norm)
                             if s.max_grad_norm > 0 else torch.zeros(()))
                local_units = float(units)
                loss_value = float(loss_sum) / max(local_units, 1e-12)
                norm_value = float(grad_norm)
                finite = math.isfinite(loss_value) and math.isfinite(norm_value)
                if not finite and s.precision != "fp16":
                    kept = list_checkpoints(self.ckpt_dir)
                    where = f"the last good checkpoint is {kept[-1]}" if kept else "no checkpoint was written yet"
                    raise LmlearnError(f"loss became {loss_value} (gradient norm {norm_value}) at step {step + 1}; "
                                       f"stopped without saving; {where} (try a lower --lr)")
                lr = scheduler.get_last_lr()[0]  # the rate this step uses
                if acc.scaler is not None:  # fp16 on a GPU: the scaler skips overflowing steps and lowers its scale
                    optimizer.step()
                    stepped = not optimizer.step_was_skipped
                else:
                    stepped = finite
                    if stepped:
                        optimizer.step()
                if stepped:
                    scheduler.step()
                    bad_run = 0
                else:
                    skipped, bad_run = skipped + 1, bad_run + 1
                    if bad_run >= s.max_bad_steps:
                        raise LmlearnError(f"fp16: {bad_run} steps in a row had a non-finite loss or gradient "
                                           f"(last at step {step + 1}); stopped (try --precision bf16 or a lower --lr)")
                optimizer.zero_grad(set_to_none=True)
                step += 1
                window.time += time.perf_counter() - t0
                if stepped:
                    window.loss += float(loss_sum)
                    window.units += local_units
                    for name, value in sums.items():
                        window.metrics[name] = window.metrics.get(name, 0.0) + float(value)
                do_eval = self.eval_data is not None and (step == s.max_steps or
                                                          s.eval_every and step % s.eval_every == 0)
                save = step % s.save_every == 0 or step == s.max_steps or bool(received)
                if do_eval and best is not None and best.since + 1 >= s.early_stopping:
                    save = True  # this evaluation may end the run: its checkpoint must hold the final state
                # a checkpoint keeps the partial window, so saving (or a signal) adds no line of its own:
                # an interrupted and resumed run logs exactly the lines of an uninterrupted one
                if do_eval or step % s.log_every == 0 or step == s.max_steps:
                    full = window.reduce(acc)
                    tokens_seen += full.tokens
                    elapsed += full.time
                    rate = full.tokens / max(full.time, 1e-9)
                    scale = 1 / max(full.units, 1e-12)
                    record = {"step": step, "loss": full.loss * scale if full.units else float("nan"), "lr": lr,
                              "tokens_per_sec": rate, "grad_norm": norm_value, "tokens_seen": tokens_seen,
                              "elapsed": round(elapsed, 3)}
                    record.update({name: value * scale for name, value in sorted(full.metrics.items())})
                    if per_token_flops:
                        record["model_flops_per_sec"] = per_token_flops * rate
                        if peak:
                            record["mfu"] = per_token_flops * rate / (peak * self.world)
                    if skipped:
                        record["skipped_steps"] = skipped
                    if do_eval:
                        eval_loss, eval_metrics = evaluate(model, self.method, self.eval_data, s, acc, self.frozen)
                        record.update(eval_loss=eval_loss, eval_ppl=math.exp(min(eval_loss, 50)))
                        record.update({f"eval_{name}": value for name, value in sorted(eval_metrics.items())})
                        if best is not None:
                            best.update(acc.unwrap_model(model), eval_loss, eval_metrics, step)
                            stopped_early = best.since >= s.early_stopping
                            record["best_step"] = best.step
                    metrics.log(record)
                    last_loss = record["loss"]
                    bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{rate:.0f}",
                                    **{name: f"{record[name]:.3g}" for name in sorted(full.metrics)})
                    window = Window()
                bar.update(1)
                if received:
                    path = checkpoint(step)
                    raise TrainingInterrupted(f"interrupted at step {step}; checkpoint saved to {path}; "
                                              "continue with --resume", received[0])
                if save:
                    checkpoint(step)
            if best is not None and best.step is not None:
                best.restore(acc.unwrap_model(model))  # the run ends with its best evaluation's weights
                eval_loss, eval_metrics = None, {}
            if eval_loss is None and self.eval_data is not None:  # resumed a finished run, or restored the best
                eval_loss, eval_metrics = evaluate(model, self.method, self.eval_data, s, acc, self.frozen)
        finally:
            bar.close()
            metrics.close()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        return TrainResult(step=step, tokens_seen=tokens_seen, train_loss=last_loss, initial_eval_loss=initial_eval,
                           eval_loss=eval_loss, wall_time=elapsed, accelerator=acc, skipped_steps=skipped,
                           eval_metrics=eval_metrics, best_step=best.step if best is not None else None,
                           stopped_early=stopped_early)


def _enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """transformers' activation checkpointing on every model inside `model` that has it."""
    found = [m for m in model.modules() if getattr(m, "supports_gradient_checkpointing", False)
             and hasattr(m, "gradient_checkpointing_enable")]
    if not found:
        raise LmlearnError(f"--gradient-checkpointing: {type(model).__name__} holds no transformers model "
                           "that supports it")
    outer = [m for m in found if not any(m is not o and m in set(o.modules()) for o in found)]
    for m in outer:
        m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
