"""Peak memory of QLoRA, LoRA and full fine-tuning training the same model.

A child process saves one randomly initialised LLaMA-shaped model (large enough that its weights
dominate) to a temporary folder; each run is a fresh child process that loads it the way lmlearn does
(`load_quantized` + `apply_peft` for QLoRA, `from_pretrained` + `apply_peft` for LoRA, all weights
trainable for full fine-tuning), trains a few AdamW steps on random tokens and reports its peak
resident memory (`getrusage(RUSAGE_SELF).ru_maxrss`): once loaded (imports and loading), and over the
training steps alone, after resetting the high-water mark (`/proc/self/clear_refs`, Linux); the peak
is the larger. An `imports` run (libraries loaded, no model) gives the floor. glibc keeps freed
large buffers (QLoRA dequantizes every weight in every step) unless its mmap threshold is fixed:
`--malloc-mmap-threshold` sets MALLOC_MMAP_THRESHOLD_ in the runs. The parent imports no library and
holds no model: a child's ru_maxrss starts from its parent's resident size at fork. Rounds
interleave the methods; the medians and the ratios are printed.

    .venv/bin/python benchmarks/peft_memory.py [--hidden 1024] [--layers 6] [--steps 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("full", "lora", "qlora")
HERE = Path(__file__).resolve()


def save_base(folder: Path, hidden: int, layers: int, vocab: int) -> int:
    """A LLaMA-shaped model of the given size, saved in fp32; returns its parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 11 // 4 // 64 * 64,
                         num_hidden_layers=layers, num_attention_heads=hidden // 64, max_position_embeddings=512,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak() -> bool:
    """Restart the high-water mark of resident memory (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(mode: str, base: str, steps: int, batch: int, seq: int) -> dict:
    """Load the model as `mode` trains it, train `steps` steps, report memory and time."""
    import torch

    from lmlearn.adapters.apply import apply_peft, parameter_counts
    from lmlearn.adapters.qlora import load_quantized
    from lmlearn.adapters.settings import PeftSettings
    from lmlearn.engine.optim import make_optimizer
    from lmlearn.engine.settings import TrainSettings

    torch.set_num_threads(2)
    if mode == "imports":
        return {"mode": mode, "peak_mb": _peak_mb(), "load_peak_mb": _peak_mb()}
    if mode == "qlora":
        model = apply_peft(load_quantized(base, "causal-lm"), PeftSettings(peft="qlora"), "llama", "causal-lm")
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        if mode == "lora":
            model = apply_peft(model, PeftSettings(peft="lora"), "llama", "causal-lm")
    trainable, total = parameter_counts(model)
    load_peak = _peak_mb()
    reset = _reset_peak()
    optimizer = make_optimizer(model, TrainSettings(lr=1e-4))
    ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    # after the reset, ru_maxrss is the training steps' own peak
    return {"mode": mode, "peak_mb": max(load_peak, _peak_mb()), "load_peak_mb": load_peak,
            "train_peak_mb": _peak_mb() if reset else None, "trainable": trainable, "total": total,
            "sec_per_step": (time.perf_counter() - start) / steps, "loss": loss.item()}


def run_child(*args: str, threshold: int | None = None) -> dict:
    env = dict(os.environ)
    if threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(threshold)
    out = subprocess.run([sys.executable, str(HERE), *args], check=True, capture_output=True, text=True,
                         env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--malloc-mmap-threshold", type=int, default=None, metavar="BYTES",
                   help="fix glibc's mmap threshold in the runs, so freed large buffers go back to the system")
    p.add_argument("--child", choices=("imports",) + MODES)
    p.add_argument("--base")
    p.add_argument("--make-base", action="store_true")
    args = p.parse_args()
    if args.make_base:
        print(json.dumps({"parameters": save_base(Path(args.base), args.hidden, args.layers, args.vocab)}))
        return
    if args.child:
        print(json.dumps(child(args.child, args.base, args.steps, args.batch, args.seq)))
        return

    with tempfile.TemporaryDirectory(prefix="lmlearn-peft-memory-") as tmp:
        size = ["--hidden", str(args.hidden), "--layers", str(args.layers), "--vocab", str(args.vocab)]
        params = run_child("--make-base", "--base", tmp, *size)["parameters"]
        print(f"llama, hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}: {params / 1e6:.1f}M parameters "
              f"({params * 4 / 2**20:.0f} MiB in fp32); batch {args.batch} x {args.seq}, {args.steps} AdamW steps")
        threshold = args.malloc_mmap_threshold
        results: dict[str, list[dict]] = {"imports": [run_child("--child", "imports", threshold=threshold)]}
        results.update({m: [] for m in MODES})
        for r in range(args.rounds):
            order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]  # rotate so no method always runs first
            for mode in order:
                results[mode].append(run_child("--child", mode, "--base", tmp, "--steps", str(args.steps),
                                               "--batch", str(args.batch), "--seq", str(args.seq),
                                               threshold=threshold))
                print(f"  round {r + 1} {mode}: {results[mode][-1]}", flush=True)

    def median(mode: str, key: str) -> float | None:
        values = [r[key] for r in results[mode] if r.get(key) is not None]
        return statistics.median(values) if values else None

    print("\n| run | trainable / total params | peak RSS (MiB) | peak RSS loading (MiB) | "
          "peak RSS training (MiB) | s/step |")
    print("|---|---|---|---|---|---|")
    for mode in ("imports",) + MODES:
        first = results[mode][0]
        counts = f"{first['trainable'] / 1e6:.2f}M / {first['total'] / 1e6:.1f}M" if "total" in first else "-"
        train = median(mode, "train_peak_mb")
        step = median(mode, "sec_per_step")
        print(f"| {mode} | {counts} | {median(mode, 'peak_mb'):.0f} | {median(mode, 'load_peak_mb'):.0f} | "
              f"{'-' if train is None else f'{train:.0f}'} | {'-' if step is None else f'{step:.2f}'} |")
    for key, what in (("peak_mb", "peak RSS"), ("load_peak_mb", "peak RSS loading"),
                      ("train_peak_mb", "peak RSS training")):
        if median("qlora", key) is None:
            continue
        print(f"{what}: qlora / lora = {median('qlora', key) / median('lora', key):.3f}, "
              f"lora / full = {median('lora', key) / median('full', key):.3f}")


if __name__ == "__main__":
    main()
