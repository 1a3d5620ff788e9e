"""Prompts for rollouts and evaluation: rows with a `prompt` field (a string, or messages ending with a user
turn), preference rows (the prompt their chosen and rejected dialogues share, as in Anthropic HH), or any
text source (a .txt file a prompt a line, a `text` column, builtin data), tokenized as the policy reads them
before answering."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class PolicyPrompts:
    """Prompts as a policy reads them, with what sampling needs to know about its tokenizer."""

    tokenizer: Any
    template: str  # "none" for plain-text prompts
    prompts: list[Any]
    ids: list[list[int]]
    pad_id: int
    stop_ids: list[int]


def policy_prompts(tokenizer: Any, prompts: list[Any], template: str, max_tokens: int) -> PolicyPrompts:
    """Tokenize `prompts` for the policy whose tokenizer this is: its chat template for conversations (plain
    text is continued as it is), and stop at eos or the template's end-of-turn token."""
    from lmlearn.instruct.templates import end_of_turn, resolve_template

    chat = not isinstance(prompts[0], str)
    template = resolve_template(template, tokenizer) if chat else "none"
    eot = end_of_turn(template, tokenizer) if chat else None
    stop_ids = [t for t in (tokenizer.eos_token_id, eot and tokenizer.convert_tokens_to_ids(eot)) if t is not None]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return PolicyPrompts(tokenizer, template, prompts, tokenize_prompts(prompts, template, tokenizer, max_tokens),
                         pad_id, stop_ids)


def policy_tokenizer(model: str) -> tuple[str, Any]:
    """The model folder `model` names (or the run folder's model/) and its tokenizer."""
    from lmlearn.models.factory import load_tokenizer
    from lmlearn.models.spec import resolve_model_dir

    folder = str(resolve_model_dir(model))
    tokenizer = load_tokenizer(folder)
    if tokenizer is None:
        raise LmlearnError(f"--model {model} holds no tokenizer")
    return folder, tokenizer


PROMPT_LEARNING = ("prefix", "prompt", "ptuning")


def refuse_prompt_learning(method_or_adapter: str, what: str) -> None:
    """Stop on a prompt-learning adapter (a --peft name, or an adapter folder): its virtual tokens sit in front of
    every row and it drops the position ids that left-padded sampling gives, so rollouts would be misplaced."""
    import json
    from pathlib import Path

    method = method_or_adapter
    config = Path(method_or_adapter) / "adapter_config.json"
    if config.is_file():
        method = json.loads(config.read_text(encoding="utf-8")).get("peft_type", "").lower()
    names = {"prefix_tuning": "prefix", "prompt_tuning": "prompt", "p_tuning": "ptuning"}
    if names.get(method, method) in PROMPT_LEARNING:
        raise LmlearnError(f"{what}: a prompt-learning adapter ({method}) puts virtual tokens in front of every row "
                           "and drops the position ids left-padded sampling needs; use lora, qlora, ia3 or "
                           "llama-adapter")
