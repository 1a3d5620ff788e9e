"""What every alignment method shares: padded pair batches, the log-probability of an answer under a
causal LM (two full rows per pair, or each prompt once for both answers), a scalar score per sequence,
the base under a peft adapter, and switching dropout off."""

from __future__ import annotations

import inspect
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from lmlearn.families import DECODERS
from lmlearn.instruct.templates import IGNORE

SIDES = ("chosen", "rejected")
# the decoder-only causal LMs a policy can be: sampled with the KV cache and explicit position ids
POLICY_FAMILIES = DECODERS


def pad_right(rows: list[list[int]], value: int) -> torch.Tensor:
    """Rows of different lengths as one (B, T) tensor, padded on the right with `value`."""
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def collate_pairs(pairs: list[Any], pad_id: int) -> dict[str, torch.Tensor]:
    """`chosen_*` and `rejected_*` fields (input_ids, attention_mask, labels), one row per pair, and the
    pairs' margins (and precomputed reference log-probabilities, when they carry them)."""
    batch: dict[str, torch.Tensor] = {}
    for side in SIDES:
        ids = [getattr(p, f"{side}_ids") for p in pairs]
        batch[f"{side}_input_ids"] = pad_right(ids, pad_id)
        batch[f"{side}_attention_mask"] = pad_right([[1] * len(r) for r in ids], 0)
        batch[f"{side}_labels"] = pad_right([getattr(p, f"{side}_labels") for p in pairs], IGNORE)
    batch["margin"] = torch.tensor([p.margin for p in pairs], dtype=torch.float32)
    if getattr(pairs[0], "ref_chosen", None) is not None:
        batch["ref_chosen"] = torch.tensor([p.ref_chosen for p in pairs], dtype=torch.float32)
        batch["ref_rejected"] = torch.tensor([p.ref_rejected for p in pairs], dtype=torch.float32)
    return batch


def both_sides(batch: dict[str, torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chosen rows then rejected rows as one (2B, T) batch (one forward serves both): ids, mask, labels."""
    width = max(batch[f"{s}_input_ids"].shape[1] for s in SIDES)

    def cat(name: str, value: int) -> torch.Tensor:
        return torch.cat([F.pad(batch[f"{s}_{name}"], (0, width - batch[f"{s}_{name}"].shape[1]), value=value)
                          for s in SIDES])

    return cat("input_ids", pad_id), cat("attention_mask", 0), cat("labels", IGNORE)


def answer_logps(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                 labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of log p(token) over each row's labelled (answer) tokens under a causal LM, and their count. The
    LM head runs only from the earliest answer on (`logits_to_keep`): the prompts' logits are never read."""
    labelled = labels[:, 1:] != IGNORE
    first = int(labelled.int().argmax(1).min()) if bool(labelled.any()) else 0
    keep = {"logits_to_keep": ids.shape[1] - first} if keeps_logits(model) else {}
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False, **keep).logits[:, :-1]
    if keep:
        labels = labels[:, first:]
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return (logp * keep).sum(-1), keep.sum(-1)


def sequence_logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A sequence-classification model's logits (B, labels), read at the last real token of right-padded rows
    for decoder models (whatever the pad id), at the first token for encoders. The forward goes through
    `model` itself, so a DDP wrapper sees it and reduces the gradients."""
    inner = unwrap(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    head = getattr(base, "score", None)
    if head is None:  # encoders pool their first token ([CLS]) inside the forward
        return model(input_ids=ids, attention_mask=mask).logits
    hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    last = mask.sum(-1) - 1
    return head(hidden[torch.arange(ids.shape[0], device=ids.device), last])


def sequence_scores(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One scalar per row from a one-label sequence-classification model (a reward model)."""
    return sequence_logits(model, ids, mask)[:, 0]


def keeps_logits(model: torch.nn.Module) -> bool:
    """Whether the causal LM (under any peft or DDP wrapper) takes `logits_to_keep`, so the LM head can skip
    positions whose logits are never read."""
    inner = unwrap(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel (or torch.compile) wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


@contextmanager
def adapters_off(model: torch.nn.Module) -> Iterator[None]:
    """The base model under a peft adapter (the reference of a --peft policy), without a second copy."""
    inner = unwrap(model)
    with inner.disable_adapter() if hasattr(inner, "disable_adapter") else nullcontext():
        yield


def disable_dropout(model: torch.nn.Module) -> int:
    """Set every dropout to 0 (as TRL does for preference training and PPO): the policy's log-probabilities
    must equal the reference's at the start and the rollout's in PPO's first epoch. Returns how many.
    The saved config keeps the model's own rates."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
            count += 1
        if isinstance(getattr(module, "attention_dropout", None), float):  # llama's sdpa reads a float
            module.attention_dropout = 0.0
            count += 1
    return count


def shared_prompt_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        pad_id: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`answer_logps` of the chosen rows then the rejected rows, with each pair's prompt run once: the prompts'
    keys and values are cached and repeated for both answers, which then run alone (the evaluation harness
    shares a context between choices the same way). The gradient flows through the cache into the prompt.
    None when this path does not apply (the two sides' prompts differ, the model takes no cache, or DDP wraps
    it: DDP allows one forward per backward), and the caller runs both full rows instead."""
    from lmlearn.evaluation.lm import cache_argument, output_cache

    inner = unwrap(model)
    if inner is not model and isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return None
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    name = cache_argument(base)
    peft_config = getattr(inner, "active_peft_config", None)
    if name is None or (peft_config is not None and peft_config.is_prompt_learning):
        return None
    if torch.is_grad_enabled() and inner.training and any(getattr(m, "gradient_checkpointing", False) is True
                                                          for m in inner.modules()):
        return None  # activation checkpointing turns the cache off in training forwards
    sides = [(batch[f"{s}_input_ids"], batch[f"{s}_labels"]) for s in SIDES]
    starts, ends = [], []
    for ids, labels in sides:
        labelled = labels != IGNORE
        if not bool(labelled.any(1).all()):
            return None
        starts.append(labelled.int().argmax(1))  # the first answer token
        ends.append(labels.shape[1] - labelled.flip(1).int().argmax(1))  # one past the last
    start = starts[0]
    if not torch.equal(start, starts[1]) or bool((start < 1).any()):
        return None
    width = int(start.max())
    # prompts left-padded, so each ends at the last column: one logit per row predicts its answer's first token
    shift = width - start
    cols = torch.arange(width, device=start.device)[None]
    prompt_mask = (cols >= shift[:, None]).long()
    source = (cols - shift[:, None]).clamp(min=0)
    prompts = [ids.gather(1, source) * prompt_mask + pad_id * (1 - prompt_mask) for ids, _ in sides]
    if not torch.equal(prompts[0], prompts[1]):
        return None
    answers = [[ids[i, int(start[i]):int(end[i])].tolist() for i in range(ids.shape[0])]
               for (ids, _), end in zip(sides, ends)]
    flat = answers[0] + answers[1]
    cont = pad_right(flat, pad_id).to(start.device)
    cont_mask = pad_right([[1] * len(a) for a in flat], 0).to(start.device)
    keep = {"logits_to_keep": 1} if keeps_logits(model) else {}
    out = model(input_ids=prompts[0], attention_mask=prompt_mask, position_ids=(prompt_mask.cumsum(1) - 1).clamp(min=0),
                use_cache=True, **keep)
    rows = torch.arange(start.shape[0], device=start.device)
    owner = torch.cat([rows, rows])
    first = torch.log_softmax(out.logits[:, -1].float(), -1)[owner]  # predicts each answer's first token
    cache = output_cache(out)
    if cache is None or not hasattr(cache, "batch_select_indices"):  # no cache, or a legacy tuple cache
        return None
    cache.batch_select_indices(owner)
    positions = start[owner][:, None] + torch.arange(cont.shape[1], device=cont.device)[None]
    limit = getattr(base.config, "max_position_embeddings", None) or getattr(base.config, "n_positions", None)
    if limit:  # a short answer's padding may run past the last position; it is never read (real tokens keep theirs)
        positions = torch.where(cont_mask.bool(), positions, positions.clamp(max=limit - 1))
    rest = model(input_ids=cont, attention_mask=torch.cat([prompt_mask[owner], cont_mask], 1),
                 position_ids=positions, use_cache=True, **{name: cache}).logits[:, :-1]
    logp = torch.cat([first[:, None], torch.log_softmax(rest.float(), -1)], 1).gather(-1, cont[..., None]).squeeze(-1)
    return (logp * cont_mask).sum(-1), cont_mask.sum(-1)
