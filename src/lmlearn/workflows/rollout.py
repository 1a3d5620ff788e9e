"""Rollouts: sample an answer per prompt from a policy, score it with a reward and measure its KL to a
reference: the reward-KL point of any policy (SFT, PPO, DPO), comparable with `lmlearn paired --metric
score` on the same prompts and seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lmlearn.align.settings import BatchSamplingSettings, PromptSettings, RewardSettings
from lmlearn.config import option


@dataclass
class RolloutConfig(PromptSettings, RewardSettings, BatchSamplingSettings):
    """Settings of `lmlearn rollout`."""

    model: str = option("runs/ppo", "the policy (a model folder, or a run folder holding model/)")
    adapter: str | None = option(None, "a PEFT adapter on --model (the reference is then --model without it)")
    reference: str | None = option(None, "the reference the KL is measured against (default: --model, or its base "
                                         "under --adapter)")
    out: str = option("runs/rollout.jsonl", "one JSON line per prompt: doc_id, prompt, answer, score, kl")


Config = RolloutConfig


def run(cfg: RolloutConfig) -> dict[str, Any]:
    """Write the samples to OUT; return the mean score and KL."""
    from lmlearn.align.evaluate import evaluate_policy
    from lmlearn.align.prompts import policy_prompts, policy_tokenizer, read_prompts, refuse_prompt_learning
    from lmlearn.align.rewards import make_reward
    from lmlearn.errors import LmlearnError
    from lmlearn.io import atomic_write_text
    from lmlearn.models.factory import load_model, load_tokenizer
    from lmlearn.models.spec import resolve_model_dir

    if not cfg.data:
        raise LmlearnError("--data is required: the prompts to answer")
    folder = str(resolve_model_dir(cfg.model))
    tokenizer = (load_tokenizer(cfg.adapter) if cfg.adapter else None) or policy_tokenizer(cfg.model)[1]
    p = policy_prompts(tokenizer, read_prompts(cfg.data, cfg.prompt_column, cfg.on_bad_rows), cfg.template,
                       cfg.max_prompt_tokens)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = load_model(folder, "causal-lm", tokenizer).to(device).eval()
    reference = policy
    if cfg.adapter:
        from lmlearn.models.adapters import attach_adapter

        refuse_prompt_learning(cfg.adapter, "lmlearn rollout --adapter")

        policy, reference = attach_adapter(policy, cfg.adapter), None  # None: the base, adapters off
    if cfg.reference:
        reference = load_model(str(resolve_model_dir(cfg.reference)), "causal-lm", tokenizer).to(device).eval()
    elif not cfg.adapter:
        print("note: no --reference (and no --adapter): the KL is measured against the policy itself, so it is 0")
    summary, rows = evaluate_policy(
        policy, reference, p.prompts, p.ids, make_reward(cfg, tokenizer, p.template, device), tokenizer,
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
        seed=cfg.seed, batch_size=cfg.batch_size, pad_id=p.pad_id, stop_ids=p.stop_ids)
    atomic_write_text(cfg.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return summary
