"""SFT throughput with and without packing: useful (non-padding) tokens per second on the Self-Instruct
seed tasks (the Alpaca seed set), on the same model, tokens and batch size, in rounds whose steps
alternate between the two layouts (the same batches every round).

Padded: one conversation per row, right-padded to the longest in its batch (the usual dynamic padding).
Packed: conversations packed into rows of --block tokens, with position ids restarting per conversation
(lmlearn instruct --packing). Each timed step is collate + forward + backward + clip + AdamW step with
lmlearn's SFT objective; only real tokens count. Prints the median useful tokens/s of each and the ratio.

    .venv/bin/python benchmarks/packing.py [--data ../shared/data/alpaca-seed/seed_tasks.jsonl] [--preset llama-small]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca-seed" / "seed_tasks.jsonl")


def make_setup(data: str, preset: str, block: int, vocab: int) -> dict:
    """Tokenizer, examples (chatml, truncated to the block), the two layouts' rows and an initial model."""
    from lmlearn.instruct.formats import read_conversations
    from lmlearn.instruct.sft import SFT, prepare
    from lmlearn.instruct.templates import add_template_tokens, tokenizer_texts
    from lmlearn.models.factory import load_model
    from lmlearn.tokenization import train_tokenizer

    rows = read_conversations(data)
    family = preset.rsplit("-", 1)[0]
    texts = tokenizer_texts((chat for _, chats in rows for chat in chats), "chatml")
    tokenizer = train_tokenizer(texts, family=family, vocab_size=vocab)
    add_template_tokens("chatml", tokenizer)
    padded = prepare(rows, "chatml", tokenizer, block)
    packed = prepare(rows, "chatml", tokenizer, block, packed=True)
    model = load_model(preset, "causal-lm", tokenizer, seed=0)
    return {"tokenizer": tokenizer, "model": model, "padded": padded, "packed": packed,
            "objectives": {"padded": SFT(tokenizer.pad_token_id), "packed": SFT(tokenizer.pad_token_id, packed=True)}}


def batches(rows: list, batch: int, seed: int = 0) -> list[list]:
    """One epoch of batches in a seeded order (the last, partial batch dropped, as the loop does)."""
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    return [[rows[i] for i in order[k:k + batch]] for k in range(0, len(order) - batch + 1, batch)]


def fill(chunks: list[list]) -> float:
    """Useful tokens over the token slots the batches occupy (rows x longest row of each batch)."""
    lengths = [[sum(len(ids) for ids, _ in row) for row in chunk] for chunk in chunks]
    return sum(map(sum, lengths)) / sum(len(ls) * max(ls) for ls in lengths)


class Trainer:
    """One layout's model and optimizer, stepping through its batches and timing them."""

    def __init__(self, model, objective, chunks: list[list]):
        from lmlearn.engine.optim import make_optimizer
        from lmlearn.engine.settings import TrainSettings

        self.model, self.objective, self.chunks = model.train(), objective, chunks
        self.optimizer = make_optimizer(model, TrainSettings(lr=3e-4, weight_decay=0.1))
        self.useful, self.seconds = 0, 0.0

    def step(self, s: int, timed: bool) -> None:
        """Train on batch `s` (collate, forward, backward, clip, AdamW), counting it if `timed`."""
        chunk = self.chunks[s]
        t0 = time.perf_counter()
        loss = self.objective.loss(self.model, self.objective.collate(chunk, torch.Generator()))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if timed:
            self.seconds += time.perf_counter() - t0
            self.useful += sum(len(ids) for row in chunk for ids, _ in row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--preset", default="llama-small")
    parser.add_argument("--block", type=int, default=512, help="tokens per packed row, and the truncation length")
    parser.add_argument("--batch", type=int, default=8, help="rows per batch in both layouts")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps at the start of each run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of interleaved steps")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    setup = make_setup(args.data, args.preset, args.block, args.vocab)
    model0 = setup["model"]
    params = sum(p.numel() for p in model0.parameters())
    stats = {name: setup[name] for name in ("padded", "packed")}
    padded, packed = stats["padded"], stats["packed"]
    print(f"{args.preset}: {params / 1e6:.2f}M parameters; {padded.examples} conversations, {padded.tokens} tokens "
          f"({padded.truncated} truncated to {args.block}) in {len(packed.rows)} packed rows; "
          f"batch {args.batch} rows; torch {torch.__version__}, {torch.get_num_threads()} threads")
    names = ["padded", "packed"]
    # the same batches in every round, so rounds differ only by the machine; the timed ones are the
    # first of an epoch, whose fill is printed next to the whole epoch's
    epochs = {name: batches(stats[name].rows, args.batch) for name in names}
    timed = {name: epoch[:args.warmup + args.steps] for name, epoch in epochs.items()}
    for name in names:
        print(f"{name}: {len(epochs[name])} batches an epoch, {fill(epochs[name]):.3f} of their token slots useful; "
              f"timed batches {fill(timed[name][args.warmup:]):.3f}")
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        # step by step, alternating which layout goes first, so both see the same load on a shared machine
        trainers = {name: Trainer(copy.deepcopy(model0), setup["objectives"][name], timed[name]) for name in names}
        for s in range(args.warmup + args.steps):
            for name in names[(r + s) % 2:] + names[:(r + s) % 2]:
                trainers[name].step(s, timed=s >= args.warmup)
        for name, t in trainers.items():
            rates[name].append(t.useful / t.seconds)
            print(f"round {r + 1} {name:6s} {t.useful:6d} useful tokens in {t.seconds:6.2f} s: "
                  f"{t.useful / t.seconds:7.0f} tok/s")
    medians = {name: statistics.median(v) for name, v in rates.items()}
    ratio = medians["packed"] / medians["padded"]
    for name, value in medians.items():
        print(f"{name:6s} {value:8.0f} useful tokens/s (median of {args.rounds} rounds)")
    print(f"packed/padded: {ratio:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "parameters": params, "useful_tokens_per_sec": medians, "ratio": ratio,
                       "rounds": rates, "epoch_fill": {name: fill(epoch) for name, epoch in epochs.items()}},
                      f, indent=2)


if __name__ == "__main__":
    main()
