"""Preference pairs from a reward instead of people: sample two answers per prompt from a policy and keep
the one the reward scores higher as chosen (the DPO paper's synthetic IMDb protocol)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lmlearn.align.settings import BatchSamplingSettings, PromptSettings, RewardSettings
from lmlearn.config import option


@dataclass
class PairsConfig(PromptSettings, RewardSettings, BatchSamplingSettings):
    """Settings of `lmlearn pairs`."""

    model: str = option("runs/instruct", "the policy that answers (a model folder)")
    min_gap: float = option(0.0, "drop pairs whose two scores differ by no more than this", range=">=0")
    out: str = option("runs/pairs.jsonl", "the pairs, as prompt/chosen/rejected JSON lines (with both scores)")


Config = PairsConfig


def run(cfg: PairsConfig) -> dict[str, Any]:
    """Write the pairs to OUT; return counts and the mean score gap."""
    import torch

    from lmlearn.align.prompts import policy_prompts, policy_tokenizer, read_prompts
    from lmlearn.align.rewards import answers_of, make_reward
    from lmlearn.align.rollout import sample
    from lmlearn.errors import LmlearnError
    from lmlearn.io import atomic_write_text
    from lmlearn.models.factory import load_model

    if not cfg.data:
        raise LmlearnError("--data is required: the prompts to answer")
    folder, tokenizer = policy_tokenizer(cfg.model)
    p = policy_prompts(tokenizer, read_prompts(cfg.data, cfg.prompt_column, cfg.on_bad_rows), cfg.template,
                       cfg.max_prompt_tokens)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(folder, "causal-lm", tokenizer).to(device).eval()
    reward = make_reward(cfg, tokenizer, p.template, device)
    generator = torch.Generator().manual_seed(cfg.seed)
    lines, gaps, dropped = [], [], 0
    for start in range(0, len(p.ids), cfg.batch_size):
        chunk, texts = p.ids[start:start + cfg.batch_size], p.prompts[start:start + cfg.batch_size]
        answers, scores = [], []
        for _ in range(2):  # two independent answers to every prompt
            samples = sample(model, chunk, cfg.max_new_tokens, p.pad_id, p.stop_ids, generator,
                             temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p)
            answers.append(answers_of(samples, tokenizer))
            scores.append(reward(texts, samples).tolist())
        for i, prompt in enumerate(texts):
            (a, sa), (b, sb) = (answers[0][i], scores[0][i]), (answers[1][i], scores[1][i])
            # an empty answer (eos at once) is no text to learn from; equal answers teach nothing
            if abs(sa - sb) <= cfg.min_gap or a == b or not a.strip() or not b.strip():
                dropped += 1
                continue
            (chosen, sc), (rejected, sr) = ((a, sa), (b, sb)) if sa > sb else ((b, sb), (a, sa))
            gaps.append(sc - sr)
            lines.append(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                                     "score_chosen": sc, "score_rejected": sr}, ensure_ascii=False) + "\n")
    if not lines:
        raise LmlearnError(f"every pair was dropped (equal answers or a score gap <= --min-gap {cfg.min_gap})")
    atomic_write_text(cfg.out, "".join(lines))
    return {"pairs": len(lines), "dropped": dropped, "mean_gap": sum(gaps) / len(gaps)}
