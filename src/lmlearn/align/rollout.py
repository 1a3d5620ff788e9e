"""Sampling answers from a causal LM for PPO's rollouts and for evaluation: left-padded prompts, one
forward over the prompts, then one token at a time through the KV cache (or, with `use_cache=False`, the
whole sequence again each step: the slow loop the cache is measured against). Every draw uses the given
torch.Generator, so a rollout is a function of (seed, micro-batch) and a resumed run redraws it exactly."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmlearn.align.common import keeps_logits, unwrap
from lmlearn.evaluation.lm import cache_argument, output_cache


@dataclass
class Samples:
    """Prompts and answers in one left-padded (B, P + R) batch: `answer_mask` marks the answer tokens up to
    and including the stop token; `attention_mask` every real token."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    answer_mask: torch.Tensor
    prompt_width: int


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of rows padded on the left, so every prompt ends at the same column."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token (left padding gets 0)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def pick(logits: torch.Tensor, generator: torch.Generator | None, temperature: float = 1.0, top_k: int = 0,
         top_p: float = 1.0) -> torch.Tensor:
    """One token per row: greedy when temperature is 0, else sampled from the tempered, truncated distribution."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest prefix whose mass reaches top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = logits.softmax(-1)
    draw = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0]
    return draw.to(logits.device)


@torch.no_grad()
def sample(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int, pad_id: int,
           stop_ids: list[int], generator: torch.Generator | None = None, *, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, use_cache: bool = True) -> Samples:
    """Answers of at most `max_new_tokens` to `prompts` (token ids), each ending at its first stop token."""
    model = unwrap(model)
    device = next(model.parameters()).device
    ids, mask = left_pad(prompts, pad_id)
    ids, mask = ids.to(device), mask.to(device)
    stops = torch.tensor(stop_ids or [-1], device=device)
    rows = ids.shape[0]
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    answer = []
    name = cache_argument(model.get_base_model() if hasattr(model, "get_base_model") else model)
    cached = use_cache and name is not None
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=cached)
    for _ in range(max_new_tokens):
        token = pick(out.logits[:, -1], generator, temperature, top_k, top_p)
        live = ~done
        token = torch.where(live, token, torch.full_like(token, pad_id))
        answer.append(live.long())
        ids = torch.cat([ids, token[:, None]], 1)
        mask = torch.cat([mask, live.long()[:, None]], 1)
        done = done | torch.isin(token, stops)
        if bool(done.all()) or len(answer) == max_new_tokens:
            break
        if cached:
            pos = positions(mask)[:, -1:]
            out = model(input_ids=token[:, None], attention_mask=mask, position_ids=pos, use_cache=True,
                        **{name: output_cache(out)})
        else:
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False)
    width = prompts and max(len(p) for p in prompts)
    answer_mask = torch.cat([torch.zeros(rows, width, dtype=torch.long, device=device),
                             torch.stack(answer, 1)], 1)
    return Samples(ids, mask, answer_mask, width)


def answer_logits(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_width: int,
                  temperature: float = 1.0, with_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The logits (B, R, V) that predict each answer token under a causal LM, at the sampling temperature, and
    the last hidden states at the same positions (for a value head) when `with_hidden`."""
    start = prompt_width - 1  # the logit at position t predicts token t + 1
    keep = {"logits_to_keep": input_ids.shape[1] - start} if keeps_logits(model) else {}  # the prompt's are unread
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask),
                use_cache=False, output_hidden_states=with_hidden, **keep)
    logits = (out.logits if keep else out.logits[:, start:])[:, :-1].float()
    if temperature not in (0, 1):
        logits = logits / temperature
    return logits, out.hidden_states[-1][:, start:-1] if with_hidden else None


def gather_logps(logits: torch.Tensor, input_ids: torch.Tensor, prompt_width: int) -> torch.Tensor:
    """log p of each answer token (B, R) from the logits that predict them."""
    targets = input_ids[:, prompt_width:]
    return torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)


def token_logps(model: torch.nn.Module, samples: Samples, temperature: float = 1.0) -> torch.Tensor:
    """log p of every answer token (B, R) of `samples` under `model`."""
    logits, _ = answer_logits(model, samples.input_ids, samples.attention_mask, samples.prompt_width, temperature)
    return gather_logps(logits, samples.input_ids, samples.prompt_width)
