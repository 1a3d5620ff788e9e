"""How far a policy got: sample an answer per held-out prompt (a seeded draw, the same for every policy
evaluated with the same seed), and measure its reward and its KL to the reference, log pi(y|x) - log ref(y|x)
summed over the answer's tokens (an unbiased estimate of the sequence-level KL, the x axis of the DPO paper's
reward-KL frontier, when the answers are sampled from the policy itself: at top-k or top-p below 1 they come
from a truncated distribution and the figure is only indicative)."""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import torch

from lmlearn.align.common import adapters_off
from lmlearn.align.rewards import answers_of
from lmlearn.align.rollout import sample, token_logps


@torch.no_grad()
def evaluate_policy(policy: torch.nn.Module, reference: torch.nn.Module | None, prompts: list[Any],
                    prompt_ids: list[list[int]], reward: Any, tokenizer: Any, *, max_new_tokens: int,
                    temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                    batch_size: int = 32, pad_id: int, stop_ids: list[int]) -> tuple[dict[str, float], list[dict]]:
    """Mean reward and KL over the prompts, and one record per prompt (doc_id, prompt, answer, score, kl)
    that `lmlearn paired --metric score` compares between two policies. `reference` None means the policy's
    own base with its adapters off."""
    policy.eval()
    generator = torch.Generator().manual_seed(seed)
    records = []
    for start in range(0, len(prompt_ids), batch_size):
        chunk = prompt_ids[start:start + batch_size]
        samples = sample(policy, chunk, max_new_tokens, pad_id, stop_ids, generator, temperature=temperature,
                         top_k=top_k, top_p=top_p)
        mask = samples.answer_mask[:, samples.prompt_width:].float()
        logp = token_logps(policy, samples, temperature)
        with adapters_off(policy) if reference is None else nullcontext():
            ref_logp = token_logps(reference if reference is not None else policy, samples, temperature)
        kl = ((logp - ref_logp) * mask).sum(1).tolist()
        scores = reward(prompts[start:start + batch_size], samples).tolist()
        for i, (answer, score, k) in enumerate(zip(answers_of(samples, tokenizer), scores, kl)):
            prompt = prompts[start + i]
            records.append({"doc_id": start + i, "prompt": prompt if isinstance(prompt, str) else prompt[-1]["content"],
                            "answer": answer, "score": score, "kl": k, "answer_tokens": int(mask[i].sum())})
    n = max(len(records), 1)
    summary = {"score": sum(r["score"] for r in records) / n, "kl": sum(r["kl"] for r in records) / n,
               "answer_tokens": sum(r["answer_tokens"] for r in records) / n, "prompts": len(records)}
    spread = sum((r["score"] - summary["score"]) ** 2 for r in records) / max(len(records) - 1, 1)
    summary["score_se"] = math.sqrt(spread / n)
    return summary, records
