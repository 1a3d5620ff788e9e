"""Preference pairs in their common layouts, read into one form: a prompt (a conversation ending in a
user turn, or plain text) and two answers, the chosen one and the rejected one.

Layouts (detected per source from its first row):
- **explicit**: `prompt`, `chosen`, `rejected`, each a string (a plain-text prompt and its two
  continuations), or the prompt a list of messages and each answer a string or a one-message list
  (TRL's conversational layout);
- **implicit**: `chosen` and `rejected` only, each a whole dialogue that shares everything with the
  other up to the last assistant turn: Anthropic HH's `\n\nHuman: ...\n\nAssistant: ...` text, or two
  message lists.
An optional numeric `margin` per row reaches the reward model's loss. Bad rows are named by file:line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmlearn.data.sources import BadRows, ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.instruct.formats import HH_TURN, ROLES, BadRow, Conversation, _rows, _text, _turns
from lmlearn.instruct.templates import IGNORE, render_prompt, tokenize_conversation

LAYOUTS = ("auto", "explicit", "implicit")


@dataclass
class Pair:
    """One comparison: `prompt` is a conversation (chat models) or a string (plain continuation)."""

    where: str
    prompt: Conversation | str
    chosen: str
    rejected: str
    margin: float = 0.0


def _hh_dialogue(text: Any, what: str) -> Conversation:
    text = _text(text, what)
    parts = HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise BadRow(f"{what} must start with \"\\n\\nHuman: \" and hold Human/Assistant turns")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[s], "content": c} for s, c in zip(parts[1::2], parts[2::2])]


def _dialogue(value: Any, what: str) -> Conversation:
    if isinstance(value, str):
        return _hh_dialogue(value, what)
    return _turns(value, what, "role", "content", {r: r for r in ROLES})


def _answer(value: Any, what: str) -> str:
    """An answer given as text or as a list of one assistant message."""
    if isinstance(value, list):
        chat = _turns(value, what, "role", "content", {r: r for r in ROLES})
        if len(chat) != 1 or chat[0]["role"] != "assistant":
            raise BadRow(f"'{what}' as messages must be one assistant message")
        return _text(chat[0]["content"], what)
    return _text(value, f"'{what}'")


def _split_last_answer(chosen: Conversation, rejected: Conversation) -> tuple[Conversation, str, str]:
    """The shared prompt and the two last assistant answers of two dialogues."""
    for name, chat in (("chosen", chosen), ("rejected", rejected)):
        if chat[-1]["role"] != "assistant":
            raise BadRow(f"'{name}' must end with an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise BadRow("'chosen' and 'rejected' differ before their last assistant turn, so the prompt they "
                     "answer is not one")
    prompt = chosen[:-1]
    if not prompt or prompt[-1]["role"] != "user":
        raise BadRow("the answers must follow a user turn")
    return prompt, _text(chosen[-1]["content"], "'chosen' answer"), _text(rejected[-1]["content"], "'rejected' answer")


def to_pair(row: dict, layout: str, where: str) -> Pair:
    """The pair in one row; raises BadRow."""
    margin = row.get("margin", 0.0)
    if not isinstance(margin, (int, float)) or isinstance(margin, bool):
        raise BadRow(f"'margin' must be a number, got {type(margin).__name__}")
    for key in (("prompt", "chosen", "rejected") if layout == "explicit" else ("chosen", "rejected")):
        if row.get(key) is None:
            raise BadRow(f"missing field '{key}' of the {layout} preference layout (fields: {', '.join(row)})")
    if layout == "implicit":
        prompt, chosen, rejected = _split_last_answer(_dialogue(row["chosen"], "chosen"),
                                                      _dialogue(row["rejected"], "rejected"))
        return Pair(where, prompt, chosen, rejected, float(margin))
    raw = row["prompt"]
    if isinstance(raw, list):
        prompt: Conversation | str = _turns(raw, "prompt", "role", "content", {r: r for r in ROLES})
        if prompt[-1]["role"] != "user":
            raise BadRow("a 'prompt' of messages must end with a user turn")
    else:
        prompt = _text(raw, "'prompt'", allow_empty=True)
    return Pair(where, prompt, _answer(row["chosen"], "chosen"), _answer(row["rejected"], "rejected"), float(margin))


def read_pairs(spec: str, layout: str = "auto", on_bad_rows: BadRows = "error",
               report: ReadReport | None = None) -> list[Pair]:
    """Every usable pair of `spec` (file, glob, folder, saved dataset)."""
    if layout not in LAYOUTS:
        raise LmlearnError(f"unknown preference layout '{layout}'; one of {', '.join(LAYOUTS)}")
    report = report if report is not None else ReadReport()
    pairs = []
    for where, row in _rows(spec, ["chosen", "rejected"], report, on_bad_rows):
        if layout == "auto":
            layout = "explicit" if "prompt" in row else "implicit"
        try:
            pairs.append(to_pair(row, layout, where))
        except BadRow as e:
            report.bad(f"{where}: {e}", on_bad_rows)
    if not pairs:
        raise LmlearnError(f"{spec}: no usable preference pairs")
    return pairs


@dataclass
class TokenizedPair:
    """Token ids of prompt + answer for both answers, labels only on the answers' tokens."""

    chosen_ids: list[int]
    chosen_labels: list[int]
    rejected_ids: list[int]
    rejected_labels: list[int]
    margin: float = 0.0
    where: str = ""  # the source row (file:line)


def _with_answer(prompt: Conversation | str, answer: str, template: str, tokenizer: Any) -> tuple[list[int], list[int]]:
    ids, labels = _prompt_and_answer(prompt, answer, template, tokenizer)
    if getattr(tokenizer, "cls_token_id", None) is not None:  # an encoder: its own frame, e.g. [CLS] ... [SEP]
        head, tail = special_frame(tokenizer)
        return head + ids + tail, [IGNORE] * len(head) + labels + [IGNORE] * len(tail)
    return ids, labels


def special_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one sequence ([CLS] and [SEP], <s> and </s>)."""
    probe = tokenizer("a", add_special_tokens=False)["input_ids"]
    framed = tokenizer("a")["input_ids"]
    for start in range(len(framed) - len(probe) + 1):
        if framed[start:start + len(probe)] == probe:
            return framed[:start], framed[start + len(probe):]
    return [], []


def _prompt_and_answer(prompt: Conversation | str, answer: str, template: str,
                       tokenizer: Any) -> tuple[list[int], list[int]]:
    if isinstance(prompt, str):  # plain continuation: the answer's tokens follow the prompt's, as in generation
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        if not head and tokenizer.bos_token_id is not None:
            head = [tokenizer.bos_token_id]
        tail = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            tail = tail + [tokenizer.eos_token_id]  # the answer ends, so the model learns where to stop
        return head + tail, [IGNORE] * len(head) + tail
    ids, labels = tokenize_conversation(prompt + [{"role": "assistant", "content": answer}], template, tokenizer)
    return ids, last_answer_only(labels)


def last_answer_only(labels: list[int]) -> list[int]:
    """The labels of the last labelled run (the answer being compared); earlier assistant turns of a multi-turn
    prompt are context, like its user turns."""
    end = max((i for i, t in enumerate(labels) if t != IGNORE), default=-1) + 1
    start = end
    while start > 0 and labels[start - 1] != IGNORE:
        start -= 1
    return [IGNORE] * start + labels[start:end] + [IGNORE] * (len(labels) - end)


def tokenize_pairs(pairs: list[Pair], template: str, tokenizer: Any, max_length: int) -> tuple[list[TokenizedPair], int]:
    """Tokenized pairs cut to `max_length` tokens: the shared prompt loses its start (the same tokens on both
    sides, a leading special token kept), then an answer its end; a pair either of whose answers loses every
    token is dropped. Returns the pairs and the number dropped."""
    out, dropped = [], 0
    specials = {t for t in (tokenizer.bos_token_id, getattr(tokenizer, "cls_token_id", None)) if t is not None}
    for pair in pairs:
        try:
            sides = [_with_answer(pair.prompt, answer, template, tokenizer) for answer in (pair.chosen, pair.rejected)]
        except LmlearnError as e:
            raise LmlearnError(f"{pair.where}: {e}") from None
        sides = [(ids[:max_length], labels[:max_length]) for ids, labels in _fit_pair(sides, max_length, specials)]
        if any(all(t == IGNORE for t in labels) for _, labels in sides):
            dropped += 1
            continue
        out.append(TokenizedPair(*sides[0], *sides[1], margin=pair.margin, where=pair.where))
    if not out:
        raise LmlearnError(f"no preference pair has answer tokens within --block-size {max_length}; raise it")
    return out, dropped


def _fit_pair(sides: list[tuple[list[int], list[int]]], max_length: int,
              specials: set[int]) -> list[tuple[list[int], list[int]]]:
    """One cut of the shared prompt's start for both sides (so both keep the same prompt tokens, at least one,
    and a leading bos/[CLS]), as much as the longer side needs to fit."""
    keep = 1 if sides[0][0] and sides[0][0][0] in specials else 0
    over = max(len(ids) for ids, _ in sides) - max_length
    first = min(next((i for i, t in enumerate(labels) if t != IGNORE), len(labels)) for _, labels in sides)
    cut = max(0, min(over, first - 1 - keep))
    if not cut:
        return sides
    return [(ids[:keep] + ids[keep + cut:], labels[:keep] + labels[keep + cut:]) for ids, labels in sides]


def prompt_text(prompt: Conversation | str, template: str, tokenizer: Any) -> str:
    """What the policy reads before answering (rollouts, evaluation)."""
    return prompt if isinstance(prompt, str) else render_prompt(prompt, template, tokenizer)
