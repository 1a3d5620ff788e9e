"""Training throughput: a minimal PyTorch loop, lmlearn's loop and Hugging Face `Trainer`,
on the same model, data, optimizer and batch, interleaved in one process.

Each trainer's step time is the interval between two consecutive batch fetches, so every cost
of an iteration (data, forward, backward, clipping, optimizer, schedule, bookkeeping) is in it.
Prints the median tokens/s of each and the ratios.

    .venv/bin/python benchmarks/throughput.py [--objective clm|mlm] [--preset gpt2-small] [--seq 256] [--batch 8]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from types import SimpleNamespace

import torch


def make_setup(objective: str, data: str, preset: str, seq: int, vocab: int):
    """Tokenizer, examples, lmlearn's objective and an initial model, shared by all three trainers."""
    from lmlearn.data.sources import load_source
    from lmlearn.models.factory import load_model
    from lmlearn.objectives import get_objective
    from lmlearn.tokenization import train_tokenizer

    ds = load_source(data)
    family = preset.rsplit("-", 1)[0]
    tokenizer = train_tokenizer(ds["text"], family=family, vocab_size=vocab)
    cfg = SimpleNamespace(text_column="text", block_size=seq, mlm_probability=0.15, whole_word=False,
                          dupe_factor=0, seed=0)
    obj = get_objective(objective)(cfg, tokenizer)
    examples = obj.prepare(ds)
    torch.manual_seed(0)
    model = load_model(preset, obj.head, tokenizer, seed=0)
    return tokenizer, obj, examples, model


def hf_collator(objective: str, tokenizer):
    """What a Hugging Face user would put in front of Trainer for the same objective."""
    from transformers import DataCollatorForLanguageModeling

    if objective == "mlm":
        return DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)

    def clm(rows):
        x = torch.stack([torch.as_tensor(r["input_ids"]) for r in rows])
        return {"input_ids": x, "labels": x}

    return clm


def hf_rows(examples: torch.Tensor, pad_id: int | None) -> list[dict]:
    """lmlearn's examples as the unpadded rows a Hugging Face collator takes."""
    if pad_id is None:
        return [{"input_ids": row} for row in examples]
    return [{"input_ids": row[row != pad_id].tolist()} for row in examples]


class Clock:
    """Records the time of each batch fetch."""

    def __init__(self):
        self.ticks: list[float] = []

    def tick(self) -> None:
        self.ticks.append(time.perf_counter())

    def step_times(self, warmup: int) -> list[float]:
        gaps = [b - a for a, b in zip(self.ticks, self.ticks[1:])]
        return gaps[warmup:]


def ticking(objective, clock: Clock):
    """A copy of `objective` whose collate ticks `clock` first: one tick per batch fetch."""
    timed = copy.copy(objective)
    timed.collate = lambda examples, generator: (clock.tick(), objective.collate(examples, generator))[1]
    return timed


def settings(steps: int, batch: int, compile: bool = False):
    from lmlearn.engine.settings import TrainSettings

    return TrainSettings(max_steps=steps, batch_size=batch, lr=3e-4, warmup_steps=2, weight_decay=0.1,
                         max_grad_norm=1.0, eval_every=0, save_every=10**9, log_every=10**9, progress=False,
                         compile=compile)


def run_minimal(model, setup, steps: int, batch: int) -> Clock:
    """What a person writes by hand: a Hugging Face collator, forward, backward, clip, step."""
    from lmlearn.engine.optim import make_optimizer, make_scheduler

    s = settings(steps, batch)
    opt, clock = make_optimizer(model, s), Clock()
    sched = make_scheduler(opt, s)
    g = torch.Generator().manual_seed(0)
    rows, collate = setup["rows"], setup["collator"]
    model.train()
    for _ in range(steps):
        clock.tick()
        loss = model(**collate([rows[i] for i in torch.randint(len(rows), (batch,), generator=g).tolist()])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return clock


def run_lmlearn(model, setup, steps: int, batch: int, compile: bool = False) -> Clock:
    """lmlearn's loop (`lmlearn.engine.loop.train`) with lmlearn's objective."""
    from lmlearn.engine.loop import train

    clock = Clock()
    timed = ticking(setup["objective"], clock)

    with tempfile.TemporaryDirectory() as out:
        train(model, timed, setup["examples"], None, settings(steps, batch, compile), out)
    # No closing tick: the time after the last fetch includes the final checkpoint write, not a step.
    return clock


def run_trainer(model, setup, steps: int, batch: int) -> Clock:
    """Hugging Face Trainer with the same optimizer settings.

    Trainer fetches batches ahead of the step that uses them, so its clock ticks at each step's
    end (a callback) instead of at each fetch; the intervals are again whole iterations.
    """
    from transformers import Trainer, TrainerCallback, TrainingArguments

    clock = Clock()

    class Tick(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.tick()

    rows = setup["rows"]

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return rows[i]

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=batch,
                                 learning_rate=3e-4, weight_decay=0.1, warmup_steps=2, lr_scheduler_type="cosine",
                                 adam_beta1=0.9, adam_beta2=0.95, max_grad_norm=1.0, logging_steps=10**9,
                                 save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                                 disable_tqdm=True, seed=0)
        Trainer(model=model, args=args, train_dataset=Rows(), data_collator=setup["collator"],
                callbacks=[Tick()]).train()
    return clock


def load_baseline(rev: str) -> object:
    """lmlearn's training loop as it was at git revision `rev` (the `train/` package before it became
    `engine/`), importable beside today's code, so the two loops run in one process."""
    import importlib
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="lmlearn-baseline-")) / "baseline_train"
    folder.mkdir()
    root = Path(__file__).resolve().parents[1]
    for name in ("__init__", "loop", "checkpoint", "metrics", "optim", "settings"):
        text = subprocess.run(["git", "-C", str(root), "show", f"{rev}:src/lmlearn/train/{name}.py"],
                              capture_output=True, text=True, check=True).stdout
        (folder / f"{name}.py").write_text(text.replace("lmlearn.train.", "baseline_train."))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module("baseline_train.loop")


def run_baseline(model, setup, steps: int, batch: int) -> Clock:
    """The loop of --baseline REV with the same objective and settings."""
    from baseline_train.settings import TrainSettings

    loop = setup["baseline"]
    clock = Clock()
    timed = ticking(setup["objective"], clock)
    s = TrainSettings(max_steps=steps, batch_size=batch, lr=3e-4, warmup_steps=2, weight_decay=0.1, max_grad_norm=1.0,
                      eval_every=0, save_every=10**9, log_every=10**9, progress=False)
    with tempfile.TemporaryDirectory() as out:
        loop.train(model, timed, setup["examples"], None, s, out)
    return clock


def run_lmlearn_compiled(model, setup, steps: int, batch: int) -> Clock:
    """lmlearn's loop with --compile (the warm-up steps absorb the compilation)."""
    return run_lmlearn(model, setup, steps, batch, compile=True)


RUNNERS = {"minimal": run_minimal, "lmlearn": run_lmlearn, "trainer": run_trainer,
           "lmlearn+compile": run_lmlearn_compiled, "baseline": run_baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objective", default="clm", choices=["clm", "mlm"])
    parser.add_argument("--data", default="builtin:corpus?docs=4000")
    parser.add_argument("--preset", help="default: gpt2-small for clm, bert-small for mlm")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (order rotates)")
    parser.add_argument("--compile", action="store_true", help="also time lmlearn with --compile")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--baseline", metavar="REV", help="also time lmlearn's loop as of git revision REV "
                        "(e.g. d203a0e, the last loop before engine/)")
    parser.add_argument("--only", help="comma-separated runners to time (default: minimal,lmlearn,trainer)")
    args = parser.parse_args()

    args.preset = args.preset or {"clm": "gpt2-small", "mlm": "bert-small"}[args.objective]
    tokenizer, objective, examples, model0 = make_setup(args.objective, args.data, args.preset, args.seq, args.vocab)
    pad_id = tokenizer.pad_token_id if args.objective == "mlm" else None
    setup = {"objective": objective, "examples": examples, "rows": hf_rows(examples, pad_id),
             "collator": hf_collator(args.objective, tokenizer)}
    params = sum(p.numel() for p in model0.parameters())
    print(f"{args.objective} on {args.preset}: {params / 1e6:.2f}M parameters, batch {args.batch} x {args.seq} tokens, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.baseline:
        setup["baseline"] = load_baseline(args.baseline)
    names = [n for n in RUNNERS if (args.compile or n != "lmlearn+compile") and (args.baseline or n != "baseline")]
    if args.only:
        names = [n for n in args.only.split(",") if n in names]
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            model = copy.deepcopy(model0)
            clock = RUNNERS[name](model, setup, args.warmup + args.steps, args.batch)
            times[name] += clock.step_times(args.warmup)
            print(f"round {r + 1} {name:15s} median step {statistics.median(clock.step_times(args.warmup)):.3f} s")
    # tokens a batch holds on average (mlm rows end at sentence boundaries, so some are short)
    lengths = [len(r["input_ids"]) for r in setup["rows"]]
    tokens = args.batch * sum(lengths) / len(lengths)
    tps = {name: tokens / statistics.median(t) for name, t in times.items()}
    for name, value in tps.items():
        print(f"{name:15s} {value:10.0f} tokens/s (median of {len(times[name])} steps)")
    ratios = {f"{a}/{b}": tps[a] / tps[b] for a in names if a.startswith("lmlearn")
              for b in ("minimal", "trainer", "baseline") if b in tps}
    for key, value in ratios.items():
        print(f"{key}: {value:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "parameters": params, "tokens_per_sec": tps, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
