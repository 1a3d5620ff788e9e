"""The model side of evaluation: log-likelihoods of continuations, rolling log-likelihoods, generation.

Tokenisation and truncation follow lm-eval's HFLM (`_encode_pair`, `_loglikelihood_tokens`), so
the same request gets the same tokens and therefore the same score in both tools.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class LanguageModel:
    """A loaded model with its tokenizer and what scoring needs to know about it."""

    model: Any
    tokenizer: Any
    is_seq2seq: bool
    max_length: int
    device: torch.device

    @property
    def prefix_token_id(self) -> int:
        """The token that stands in for an empty context (BOS, else EOS), as in lm-eval."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id


def _max_length(config: Any, tokenizer: Any) -> int:
    # lm-eval's resolve_max_length: config attributes, then the tokenizer, then 2048.
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        if getattr(config, attr, None):
            return int(getattr(config, attr))
    length = getattr(tokenizer, "model_max_length", None)
    return int(length) if length and length < 1e30 else 2048


def load_model(folder: str, device: str = "cpu", adapter: str | None = None) -> LanguageModel:
    """Load a model folder (causal or encoder-decoder), with a PEFT adapter on top if given."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from lmlearn.models.factory import read_config

    config = read_config(folder)
    is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    model = (AutoModelForSeq2SeqLM if is_seq2seq else AutoModelForCausalLM).from_pretrained(folder, dtype=torch.float32)
    if adapter:
        from lmlearn.models.adapters import attach_adapter

        model = attach_adapter(model, adapter)
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return LanguageModel(model, tokenizer, is_seq2seq, _max_length(config, tokenizer), torch.device(device))


def encode(lm: LanguageModel, text: str, add_special_tokens: bool | None = None) -> list[int]:
    """lm-eval's tok_encode: the tokenizer's own special tokens, unless the text already starts with BOS."""
    kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
    bos = lm.tokenizer.decode(lm.prefix_token_id) if lm.prefix_token_id is not None else None
    if add_special_tokens is None and bos and text.startswith(bos):
        kwargs = {"add_special_tokens": False}
    return lm.tokenizer.encode(text, **kwargs)


def encode_pair(lm: LanguageModel, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation tokens the way lm-eval splits them (see encode_choices)."""
    return encode_choices(lm, context, [continuation])[0]


def encode_choices(lm: LanguageModel, context: str, continuations: list[str]) -> list[tuple[list[int], list[int]]]:
    """lm-eval's split of `context` with each continuation, the context tokenised once for all of them.

    Trailing whitespace of the context moves to the continuation; a causal model's continuation
    tokens are those of `context + continuation` after the context's own tokens, so a merge across
    the boundary is tokenised as the model saw it in training. lm-eval keeps the context's own
    tokens as the context even where the whole string's prefix differs, so every choice of a
    non-empty context gets the same context ids.
    """
    if context == "":
        prefix, pairs = lm.prefix_token_id, []
        for continuation in continuations:
            cont = encode(lm, continuation, add_special_tokens=False)
            pairs.append(([prefix], cont) if prefix != cont[0] else (cont[:1], cont[1:]))
        return pairs
    cut = len(context.rstrip())
    context, moved = context[:cut], context[cut:]
    context_enc = encode(lm, context)
    if lm.is_seq2seq:
        return [(context_enc, encode(lm, moved + c, add_special_tokens=False)) for c in continuations]
    return [(context_enc, encode(lm, context + moved + c)[len(context_enc):]) for c in continuations]


def _pad(rows: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


@torch.no_grad()
def score_tokens(lm: LanguageModel, batch: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
    """One forward pass: (sum of continuation log-probs, whether greedy decoding gives it) per row."""
    device = lm.device
    if lm.is_seq2seq:
        enc_ids, enc_mask = _pad([ctx[-lm.max_length:] for ctx, _ in batch], 0)
        labels, _ = _pad([cont[-lm.max_length:] for _, cont in batch], -100)
        # -100 labels become pad tokens in the decoder input (T5's shift) and are never read below.
        logits = lm.model(input_ids=enc_ids.to(device), attention_mask=enc_mask.to(device),
                          labels=labels.to(device)).logits
        starts = [0] * len(batch)
    else:
        # Truncate from the left to max_length + 1 tokens, then drop the last (it is never an input).
        rows = [(ctx + cont)[-(lm.max_length + 1):][:-1] for ctx, cont in batch]
        ids, mask = _pad(rows, 0)
        logits = lm.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        starts = [len(r) - len(cont) for r, (_, cont) in zip(rows, batch)]
    logprobs = F.log_softmax(logits.float(), dim=-1)
    results = []
    for row, start, (_, cont) in zip(logprobs, starts, batch):
        span = row[start:start + len(cont)]
        target = torch.tensor(cont, dtype=torch.long, device=span.device)
        greedy = bool((span.argmax(-1) == target).all())
        results.append((float(span.gather(-1, target[:, None]).sum()), greedy))
    return results


# What transformers calls the attention cache in a model's forward: `past_key_values` until 5.23,
# `cache` from 5.24 on.
CACHE_ARGUMENTS = ("cache", "past_key_values")
_warned: set[str] = set()


def cache_argument(model: Any) -> str | None:
    """The name under which `model.forward` takes an attention cache, or None."""
    params = inspect.signature(model.forward).parameters
    return next((name for name in CACHE_ARGUMENTS if name in params), None)


def shared_context_problem(lm: LanguageModel) -> str | None:
    """Why a right-padded context's cache cannot be continued with explicit positions (None when it can)."""
    model = lm.model
    if lm.is_seq2seq:
        return "an encoder-decoder scores the whole context in its encoder"
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None:
        if peft_config.is_prompt_learning:  # virtual tokens would be prepended again to the continuations
            return "prompt-learning adapters prepend virtual tokens to every forward"
        model = model.get_base_model()
    params = inspect.signature(model.forward).parameters
    name = type(model).__name__
    if cache_argument(model) is None:
        return f"{name}.forward takes no attention cache (none of {', '.join(CACHE_ARGUMENTS)})"
    if "position_ids" not in params:
        return f"{name}.forward takes no position_ids"
    # A sliding-window cache drops keys by count, which right padding would make wrong.
    if getattr(model.config, "sliding_window", None) is not None:
        return f"{name} uses a sliding-window cache"
    return None


def _warn_once(problem: str) -> None:
    if problem not in _warned:
        _warned.add(problem)
        warnings.warn(f"multiple-choice scoring runs one row per choice, not one pass per context: {problem}",
                      stacklevel=3)


def output_cache(out: Any) -> Any:
    """The cache a forward returned, under either of transformers' names."""
    for name in CACHE_ARGUMENTS:
        cache = getattr(out, name, None)
        if cache is not None:
            return cache
    return None


def _cache_name(model: Any) -> str:
    """The keyword the model (or a peft wrapper's base) takes its cache under."""
    base = model.get_base_model() if hasattr(model, "active_peft_config") else model
    return cache_argument(base) or "past_key_values"


def _shares_context(lm: LanguageModel, group: list[tuple[list[int], list[int]]]) -> bool:
    """Several choices with the same context ids, none truncated (lm-eval's left truncation cuts each differently)."""
    context = group[0][0]
    return len(group) > 1 and all(ctx == context and len(ctx) + len(cont) <= lm.max_length + 1
                                  for ctx, cont in group)


@torch.no_grad()
def score_shared_context(lm: LanguageModel,
                         groups: list[list[tuple[list[int], list[int]]]]) -> list[list[tuple[float, bool]]]:
    """score_tokens for groups whose choices share one context: the contexts run once, their cached keys
    and values are repeated per choice, and only the continuations run again."""
    device = lm.device
    contexts = [group[0][0] for group in groups]
    ctx_ids, ctx_mask = _pad(contexts, 0)
    out = lm.model(input_ids=ctx_ids.to(device), attention_mask=ctx_mask.to(device), use_cache=True)
    lengths = torch.tensor([len(c) for c in contexts])
    # The context's last logit predicts each continuation's first token.
    first = F.log_softmax(out.logits[torch.arange(len(contexts)), lengths - 1].float(), dim=-1)
    owner = torch.tensor([i for i, group in enumerate(groups) for _ in group])
    conts = [cont for group in groups for _, cont in group]
    width = max(len(c) for c in conts) - 1
    cache, rest = output_cache(out), None
    if width > 0 and not hasattr(cache, "batch_select_indices"):  # legacy tuples (remote code): one row per choice
        _warn_once(f"{type(lm.model).__name__} returns a legacy cache ({type(cache).__name__}) that cannot repeat rows")
        flat = iter(score_tokens(lm, [pair for group in groups for pair in group]))
        return [[next(flat) for _ in group] for group in groups]
    if width > 0:
        cache.batch_select_indices(owner.to(device))
        ids, cont_mask = _pad([c[:-1] for c in conts], 0)
        # Right-padded contexts leave gaps in the cache, so positions are given; padding's are clamped and never read.
        positions = (lengths[owner][:, None] + torch.arange(width)[None]).clamp(max=lm.max_length - 1)
        mask = torch.cat([ctx_mask[owner], cont_mask], dim=1)
        inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                  "position_ids": positions.to(device), _cache_name(lm.model): cache}
        rest = F.log_softmax(lm.model(**inputs).logits.float(), dim=-1)
    scores = []
    for r, cont in enumerate(conts):
        if not cont:
            scores.append((0.0, True))
            continue
        span = first[owner[r]][None] if rest is None else torch.cat([first[owner[r]][None], rest[r, :len(cont) - 1]])
        target = torch.tensor(cont, dtype=torch.long, device=span.device)
        scores.append((float(span.gather(-1, target[:, None]).sum()), bool((span.argmax(-1) == target).all())))
    flat = iter(scores)
    return [[next(flat) for _ in group] for group in groups]


def loglikelihoods(lm: LanguageModel, groups: list[list[tuple[list[int], list[int]]]],
                   batch_size: int) -> list[list[tuple[float, bool]]]:
    """Score groups of (context, continuation) token pairs; a group is one document's choices.

    Groups are sorted longest first, so a batch's padding is small and memory errors come early.
    A causal model runs a group's shared context once (score_shared_context); other groups get one
    row per pair (score_tokens).
    """
    order = sorted(range(len(groups)), key=lambda g: -max(len(c) + len(t) for c, t in groups[g]))
    results: list[list[tuple[float, bool]]] = [[] for _ in groups]
    batch: list[int] = []

    problem = shared_context_problem(lm)
    reuse = problem is None
    if problem and not lm.is_seq2seq and any(_shares_context(lm, group) for group in groups):
        _warn_once(problem)

    def flush() -> None:
        shared = [g for g in batch if reuse and _shares_context(lm, groups[g])]
        for g, scores in zip(shared, score_shared_context(lm, [groups[g] for g in shared]) if shared else []):
            results[g] = scores
        rest = [g for g in batch if g not in shared]
        scores = score_tokens(lm, [pair for g in rest for pair in groups[g]]) if rest else []
        for g in rest:
            results[g], scores = scores[:len(groups[g])], scores[len(groups[g]):]
        batch.clear()

    for g in order:
        if batch and sum(len(groups[b]) for b in batch) + len(groups[g]) > batch_size:
            flush()
        batch.append(g)
    if batch:
        flush()
    return results


def rolling_windows(lm: LanguageModel, text: str) -> list[tuple[list[int], list[int]]]:
    """lm-eval's disjoint rolling windows: every token predicted once, each window at most max_length."""
    tokens = encode(lm, text)
    if not tokens:
        return []
    n = lm.max_length
    first = min(n, len(tokens))
    windows = [([lm.prefix_token_id] + tokens[:first - 1], tokens[:first])]
    done = first
    while done < len(tokens):
        size = min(len(tokens) - done, n)
        end = done + size
        context = tokens[max(end - n - 1, 0):end - 1]
        windows.append((context, tokens[end - size:end]))
        done = end
    # make the context and the predicted tokens disjoint (the predicted tokens are appended back when scored)
    return [(ctx[:len(ctx) - (len(pred) - 1)], pred) for ctx, pred in windows]


def _stop_strings(tokenizer: Any, prompt_len: int, until: list[str]) -> Any:
    """A stopping criterion: a row is done once its new text holds any stop string."""
    from transformers import StoppingCriteria

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            texts = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
            return torch.tensor([any(s and s in t for s in until) for t in texts], device=input_ids.device)

    return StopStrings()


@torch.no_grad()
def generate_until(lm: LanguageModel, contexts: list[str], until: list[str], max_new_tokens: int,
                   batch_size: int, *, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0) -> list[str]:
    """Continuations cut at the first stop string: greedy, or sampled (seeded) when temperature > 0."""
    from transformers import StoppingCriteriaList

    sampling = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
        torch.manual_seed(seed)

    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    order = sorted(range(len(contexts)), key=lambda i: -len(encode(lm, contexts[i])))
    out: list[str] = [""] * len(contexts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        keep = lm.max_length if lm.is_seq2seq else max(lm.max_length - max_new_tokens, 1)
        rows = [encode(lm, contexts[i])[-keep:] for i in idx]
        width = max(len(r) for r in rows)
        # Causal models continue from the right edge, so prompts are padded on the left.
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, r in enumerate(rows):
            if lm.is_seq2seq:
                ids[j, :len(r)], mask[j, :len(r)] = torch.tensor(r), 1
            else:
                ids[j, width - len(r):], mask[j, width - len(r):] = torch.tensor(r), 1
        prompt_len = 0 if lm.is_seq2seq else width
        output = lm.model.generate(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                                   max_new_tokens=max_new_tokens, pad_token_id=pad, **sampling,
                                   stopping_criteria=StoppingCriteriaList([_stop_strings(tok, prompt_len, until)]))
        for j, i in enumerate(idx):
            text = tok.decode(output[j, prompt_len:], skip_special_tokens=True)
            for stop in until:
                text = text.split(stop)[0] if stop else text
            out[i] = text
    return out
