"""`lmlearn rollout`: sample an answer per prompt from a policy, score it with a reward and measure its KL
to a reference: the reward-KL point of any policy (SFT, PPO, DPO), comparable with `lmlearn paired --metric
score` on the same prompts and seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from lmlearn.config import option


@dataclass
class RolloutConfig:
    """Settings of `lmlearn rollout`."""

    model: str = option("runs/ppo", "the policy (a model folder, or a run folder holding model/)")
    adapter: str | None = option(None, "a PEFT adapter on --model (the reference is then --model without it)")
    reference: str | None = option(None, "the reference the KL is measured against (default: --model, or its base "
                                         "under --adapter)")
    data: str | None = option(None, "prompts: rows with a prompt (text or messages), or a text source")
    prompt_column: str = option("auto", "the prompts' field (auto: prompt, else text)")
    template: Literal["auto", "model", "chatml", "alpaca", "koalpaca"] = option(
        "auto", "chat template for conversational prompts (auto: the model's own, else chatml)")
    max_prompt_tokens: int = option(128, "keep the last this many tokens of each prompt", range=">=1")
    reward_model: str | None = option(None, "a reward model folder, or a classifier folder with --reward-label")
    reward_label: str | None = option(None, "with a classifier: the label whose log-odds is the reward")
    reward: str | None = option(None, "a Python reward function module:function(prompts, answers) -> floats")
    max_new_tokens: int = option(32, "longest answer sampled", range=">=1")
    temperature: float = option(1.0, "sampling temperature", range=">0")
    top_k: int = option(0, "sample from the k most likely tokens (0: no limit; the KL is then only indicative)",
                        range=">=0")
    top_p: float = option(1.0, "nucleus sampling mass (below 1 the KL is only indicative)", range="(0, 1]")
    batch_size: int = option(32, "prompts per batch", range=">=1")
    on_bad_rows: Literal["error", "skip"] = option("error", "stop at a malformed row, or skip and count it")
    seed: int = option(0, "seed for sampling")
    out: str = option("runs/rollout.jsonl", "one JSON line per prompt: doc_id, prompt, answer, score, kl")


Config = RolloutConfig


def run(cfg: RolloutConfig) -> dict[str, Any]:
    """Write the samples to OUT; return the mean score and KL."""
    from lmlearn.align.evaluate import evaluate_policy
    from lmlearn.align.prompts import read_prompts, tokenize_prompts
    from lmlearn.align.rewards import make_reward
    from lmlearn.errors import LmlearnError
    from lmlearn.instruct.templates import end_of_turn, resolve_template
    from lmlearn.io import atomic_write_text
    from lmlearn.models.factory import load_model, load_tokenizer
    from lmlearn.run import resolve_model_dir

    if not cfg.data:
        raise LmlearnError("--data is required: the prompts to answer")
    folder = str(resolve_model_dir(cfg.model))
    tokenizer = load_tokenizer(cfg.adapter or folder) or load_tokenizer(folder)
    if tokenizer is None:
        raise LmlearnError(f"--model {cfg.model} holds no tokenizer")
    prompts = read_prompts(cfg.data, cfg.prompt_column, cfg.on_bad_rows)
    chat = not isinstance(prompts[0], str)
    template = resolve_template(cfg.template, tokenizer) if chat else "none"
    eot = end_of_turn(template, tokenizer) if chat else None
    stop_ids = [t for t in (tokenizer.eos_token_id, eot and tokenizer.convert_tokens_to_ids(eot)) if t is not None]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    policy = load_model(folder, "causal-lm", tokenizer).eval()
    reference = policy
    if cfg.adapter:
        from lmlearn.models.adapters import attach_adapter

        policy, reference = attach_adapter(policy, cfg.adapter), None  # None: the base, adapters off
    if cfg.reference:
        reference = load_model(str(resolve_model_dir(cfg.reference)), "causal-lm", tokenizer).eval()
    elif not cfg.adapter:
        print("note: no --reference (and no --adapter): the KL is measured against the policy itself, so it is 0")
    summary, rows = evaluate_policy(
        policy, reference, prompts, tokenize_prompts(prompts, template, tokenizer, cfg.max_prompt_tokens),
        make_reward(cfg, tokenizer, template, "cpu"), tokenizer, max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p, seed=cfg.seed, batch_size=cfg.batch_size,
        pad_id=pad_id, stop_ids=stop_ids)
    atomic_write_text(cfg.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return summary


def main(cfg: RolloutConfig) -> int:
    """CLI entry: write the samples and print the means."""
    s = run(cfg)
    print(f"{s['prompts']} prompts: score {s['score']:.4g} (se {s['score_se']:.2g}), KL {s['kl']:.4g} nats, "
          f"{s['answer_tokens']:.1f} answer tokens; samples in {cfg.out}")
    return 0
