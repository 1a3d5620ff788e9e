"""PPO rollout sampling: answers through the KV cache (`lmlearn.align.rollout.sample`) against the loop that
runs the whole sequence again for every new token (`use_cache=False`), interleaved in one process.

A gpt2 preset from scratch (random weights: speed does not depend on what the model learned) samples
`--new` tokens for `--prompts` left-padded prompts of 16-48 tokens, with no stop token, so both loops do the
same number of steps; both draw from the same seeded generator and must produce the same tokens. Prints the
median answer tokens per second of each and the ratio.

    .venv/bin/python benchmarks/rollout.py [--preset gpt2-small] [--prompts 16] [--new 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2-small")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args()

    from lmlearn.align.rollout import sample
    from lmlearn.models.presets import build_config
    from lmlearn.models.factory import build_model

    class Vocab:  # what build_config reads from a tokenizer
        def __init__(self, n: int):
            self.n, self.pad_token_id, self.bos_token_id, self.eos_token_id = n, 0, 1, 2
            self.unk_token_id = self.cls_token_id = self.sep_token_id = self.mask_token_id = None

        def __len__(self) -> int:
            return self.n

    model = build_model(build_config(args.preset, Vocab(args.vocab)), "causal-lm", seed=0).eval()
    rng = random.Random(0)
    prompts = [[rng.randrange(3, args.vocab) for _ in range(rng.randrange(16, 49))] for _ in range(args.prompts)]
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.rounds + 1):  # round 0 warms up
        outputs = {}
        for cached in ((True, False) if r % 2 else (False, True)):
            t0 = time.perf_counter()
            outputs[cached] = sample(model, prompts, args.new, 0, [], torch.Generator().manual_seed(r), use_cache=cached)
            if r:
                times[cached].append(time.perf_counter() - t0)
        assert torch.equal(outputs[True].input_ids, outputs[False].input_ids), "the two loops drew different tokens"
    tokens = args.prompts * args.new
    fast, slow = tokens / statistics.median(times[True]), tokens / statistics.median(times[False])
    print(f"{args.preset}, {args.prompts} prompts x {args.new} new tokens, {args.rounds} rounds, {torch.get_num_threads()} threads")
    print(f"  KV cache      {fast:8.0f} answer tokens/s")
    print(f"  no cache      {slow:8.0f} answer tokens/s")
    print(f"  cache / none  {fast / slow:8.2f}x  (same tokens drawn in every round)")


if __name__ == "__main__":
    main()
