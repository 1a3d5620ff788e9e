"""Prompts for rollouts and evaluation: rows with a `prompt` field (a string, or messages ending with a user
turn), preference rows (the prompt their chosen and rejected dialogues share, as in Anthropic HH), or any
text source (a .txt file a prompt a line, a `text` column, builtin data), tokenized as the policy reads them
before answering."""

from __future__ import annotations

import random
from typing import Any

from lmlearn.data.sources import BadRows, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.instruct.formats import ROLES, BadRow, Conversation, _rows, _text, _turns


def read_prompts(spec: str, column: str = "auto", on_bad_rows: BadRows = "error",
                 report: ReadReport | None = None) -> list[Conversation | str]:
    """Every usable prompt of `spec`; `column` auto takes `prompt`, else a preference row's shared prompt,
    else `text`."""
    report = report if report is not None else ReadReport()
    prompts: list[Conversation | str] = []
    for where, row in _rows(spec, [], report, on_bad_rows):
        key = column if column != "auto" else ("prompt" if "prompt" in row else "text")
        try:
            if column == "auto" and key not in row and "chosen" in row:  # a preference row: its prompt
                from lmlearn.align.preferences import to_pair

                prompts.append(to_pair(row, "implicit", where).prompt)
                continue
            if key not in row:
                raise BadRow(f"no '{key}' field (fields: {', '.join(row)}); name the prompt's with --prompt-column")
            value = row[key]
            if isinstance(value, list):
                chat = _turns(value, key, "role", "content", {r: r for r in ROLES})
                if chat[-1]["role"] != "user":
                    raise BadRow(f"a '{key}' of messages must end with a user turn")
                prompts.append(chat)
            else:
                prompts.append(_text(value, f"'{key}'"))
        except BadRow as e:
            report.bad(f"{where}: {e}", on_bad_rows)
    if not prompts:
        raise LmlearnError(f"{spec}: no usable prompts")
    return prompts


def split_prompts(prompts: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded held-out share of the prompts, for the final evaluation."""
    held = max(1, round(len(prompts) * fraction)) if fraction > 0 else 0
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    return [prompts[i] for i in sorted(order[held:])], [prompts[i] for i in sorted(order[:held])]


def tokenize_prompts(prompts: list[Any], template: str, tokenizer: Any, max_tokens: int) -> list[list[int]]:
    """Token ids of each prompt as the policy reads it (rendered with the chat template when it is a
    conversation), keeping its last `max_tokens` (and a leading bos)."""
    from lmlearn.align.preferences import prompt_text
    from lmlearn.align.rewards import keep_last

    out = []
    for prompt in prompts:
        ids = tokenizer(prompt_text(prompt, template, tokenizer), add_special_tokens=False)["input_ids"]
        if not ids:
            ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
        out.append(keep_last(ids, max_tokens, tokenizer))
    return out
