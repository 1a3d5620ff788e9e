"""DPO training speed: `lmlearn dpo`'s method on the engine (the prompt run once for both answers, and with
that off) against TRL's `DPOTrainer`, on the same model, pairs, batch and steps, interleaved in one process.

The model is a gpt2 preset from scratch with a tokenizer trained on the built-in corpus (speed does not
depend on what it learned); the policy and a frozen reference start from the same weights in every arm.
The pairs are Anthropic HH's (../shared/data/hh-rlhf, the shared prompt is the dialogue before the last
answer) rendered as plain text, or built-in review pairs when HH is absent; only pairs that fit in
`--max-length` tokens, so nothing is truncated in either tool. Each timed call trains `--steps` optimizer
steps of `--batch` pairs from fresh copies, AdamW, constant rate, dropout off; the clock covers training only
(TRL tokenizes in its constructor, lmlearn before `train`). Prints the median pairs/s and data tokens/s
(prompt + chosen + prompt + rejected tokens, counted once, the same for every arm) and the ratios.

TRL is not part of lmlearn's lock; install it beside it without touching .venv:
    .venv/bin/pip install --no-deps --target runs/bench-site trl==1.16.0
    PYTHONPATH=runs/bench-site .venv/bin/python benchmarks/dpo_speed.py [--steps 8] [--batch 8] [--rounds 3]
    ... benchmarks/dpo_speed.py --max-length 512 --min-prompt 200     # long prompts
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

HH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"


def plain_rows(n: int) -> list[dict]:
    """prompt/chosen/rejected strings: HH's dialogues as text, else built-in reviews with two endings."""
    if HH.is_file():
        from lmlearn.align.preferences import read_pairs
        from lmlearn.data.sources import ReadReport

        rows = []
        for p in read_pairs(str(HH), on_bad_rows="skip", report=ReadReport()):
            text = "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in p.prompt)
            rows.append({"prompt": text + "\n\nAssistant:", "chosen": " " + p.chosen, "rejected": " " + p.rejected})
        return rows
    from lmlearn.data.sources import load_source

    reviews = [r["text"] for r in load_source("builtin:corpus?genres=review&docs=4000")]
    return [{"prompt": a, "chosen": " " + b.split(". ")[-1], "rejected": " " + c.split(". ")[-1]}
            for a, b, c in zip(reviews[0::3], reviews[1::3], reviews[2::3])][:n * 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2-small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--min-prompt", type=int, default=0, help="only pairs whose prompt has this many tokens")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from datasets import Dataset
    from transformers.utils import logging as hf_logging
    from trl import DPOConfig, DPOTrainer

    from lmlearn.align.dpo import DPO
    from lmlearn.align.preferences import Pair, tokenize_pairs
    from lmlearn.data.sources import load_source
    from lmlearn.engine.loop import train
    from lmlearn.engine.settings import TrainSettings
    from lmlearn.models.factory import load_model
    from lmlearn.tokenization import train_tokenizer

    hf_logging.set_verbosity_error()
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=4000")["text"], family="gpt2", vocab_size=8000)
    base = load_model(args.preset, "causal-lm", tokenizer, seed=0)
    for module in base.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    rows = plain_rows(args.steps * args.batch)
    pairs, _ = tokenize_pairs([Pair("", r["prompt"], r["chosen"], r["rejected"]) for r in rows], "none", tokenizer,
                              10**9)
    def prompt_length(p):
        return next(i for i, t in enumerate(p.chosen_labels) if t != -100)

    keep = [i for i, p in enumerate(pairs) if max(len(p.chosen_ids), len(p.rejected_ids)) <= args.max_length
            and prompt_length(p) >= args.min_prompt]
    need = args.steps * args.batch
    if len(keep) < need:
        raise SystemExit(f"only {len(keep)} pairs fit in {args.max_length} tokens; need {need}")
    keep = keep[:need]
    rows, pairs = [rows[i] for i in keep], [pairs[i] for i in keep]
    tokens = sum(len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    prompt_tokens = sum(prompt_length(p) for p in pairs) / len(pairs)
    answer_tokens = sum(len(p.chosen_ids) + len(p.rejected_ids) - 2 * prompt_length(p) for p in pairs) / len(pairs) / 2
    pad = tokenizer.pad_token_id
    tmp = Path(tempfile.mkdtemp(prefix="dpo-speed-"))

    def lmlearn_arm(share: str) -> float:
        model, reference = copy.deepcopy(base), copy.deepcopy(base).eval()
        # one epoch: every pair once, shuffled, as in the TRL arm (the engine also writes its final checkpoint)
        settings = TrainSettings(max_steps=args.steps, batch_size=args.batch, lr=1e-4, warmup_steps=0,
                                 schedule="constant", eval_every=0, save_every=10**6, log_every=10**6,
                                 progress=False, overwrite=True)
        method = DPO(pad, beta=0.1, share_prompt=share)
        out = tmp / f"lmlearn-{share}-{time.perf_counter_ns()}"
        t0 = time.perf_counter()
        train(model, method, pairs, None, settings, out, frozen={"reference": reference})
        elapsed = time.perf_counter() - t0
        assert share != "always" or method.shared_forwards > 0, "the shared-prompt path was not taken"
        return elapsed

    def trl_arm() -> float:
        model, reference = copy.deepcopy(base), copy.deepcopy(base).eval()
        config = DPOConfig(output_dir=str(tmp / "trl"), per_device_train_batch_size=args.batch, max_steps=args.steps,
                           learning_rate=1e-4, lr_scheduler_type="constant", warmup_steps=0, beta=0.1,
                           max_length=None, report_to=[], logging_steps=10**6, save_strategy="no", use_cpu=True,
                           bf16=False, fp16=False, dataloader_num_workers=0, disable_tqdm=True, seed=0)
        trainer = DPOTrainer(model=model, ref_model=reference, args=config, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer)
        t0 = time.perf_counter()
        trainer.train()
        return time.perf_counter() - t0

    arms = {"lmlearn (auto)": lambda: lmlearn_arm("auto"), "lmlearn (prompt once)": lambda: lmlearn_arm("always"),
            "lmlearn (full rows)": lambda: lmlearn_arm("never"), "TRL DPOTrainer": trl_arm}
    times: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(args.rounds + 1):  # round 0 warms up
        order = list(arms) if r % 2 else list(reversed(arms))
        for name in order:
            elapsed = arms[name]()
            if r:
                times[name].append(elapsed)
    print(f"{args.preset}, {need} pairs ({tokens} data tokens, HH: {HH.is_file()}; prompts {prompt_tokens:.0f} tokens, "
          f"answers {answer_tokens:.0f}), batch {args.batch}, {args.steps} steps, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in medians.items():
        print(f"  {name:<24} {need / t:7.2f} pairs/s  {tokens / t:8.0f} tokens/s")
    trl = medians["TRL DPOTrainer"]
    for name in ("lmlearn (auto)", "lmlearn (prompt once)", "lmlearn (full rows)"):
        print(f"  {name} / TRL: {trl / medians[name]:.2f}x")


if __name__ == "__main__":
    main()
