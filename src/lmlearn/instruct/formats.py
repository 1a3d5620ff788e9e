"""Instruction data in its common layouts, read into one conversation form.

A conversation is `[{"role": "system"|"user"|"assistant", "content": str}, ...]`. Rows may be
Alpaca (`instruction`, optional `input`, `output`), chat messages (`messages: [{role, content}]`),
ShareGPT (`conversations: [{from, value}]`), Self-Instruct seed tasks (`instruction`,
`instances: [{input, output}]`, one conversation per instance) or Anthropic HH dialogues (`chosen`:
one text of `\n\nHuman: …\n\nAssistant: …` turns; a `rejected` text is ignored here). The layout
is detected per source from its first row unless `--format` names it. Every bad row is reported
with its file:line.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Iterator

from lmlearn.data.sources import READERS, WHERE, BadRows, ReadReport, extension
from lmlearn.errors import LmlearnError

Conversation = list[dict[str, str]]
ROLES = ("system", "user", "assistant")
REQUIRED = {"alpaca": ["instruction", "output"], "messages": ["messages"], "sharegpt": ["conversations"],
            "self-instruct": ["instruction", "instances"], "hh": ["chosen"]}
# ShareGPT exports name the speaker in several ways; these are the ones seen in the public dumps.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                  "system": "system"}


class BadRow(ValueError):
    """A row that cannot become a conversation; the message says why, without the location."""


def detect_format(keys: list[str], where: str) -> str:
    """The layout a row with these keys is in (self-instruct before alpaca: both have `instruction`)."""
    for fmt in ("messages", "sharegpt", "self-instruct", "alpaca", "hh"):
        if all(k in keys for k in REQUIRED[fmt]):
            return fmt
    raise LmlearnError(f"{where}: cannot tell the instruction format from the fields {', '.join(keys) or 'none'}; "
                       "expected instruction/output (alpaca), messages, conversations (sharegpt) or "
                       "instruction/instances (self-instruct) or chosen (hh), or pass --format")


def _text(value: Any, what: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise BadRow(f"{what} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise BadRow(f"{what} is empty")
    return value


def _user_turn(instruction: Any, context: Any) -> str:
    """Alpaca's instruction and optional input as one user message (the input follows a blank line)."""
    text = _text(instruction, "'instruction'")
    extra = _text(context, "'input'", allow_empty=True) if context is not None else ""
    return f"{text}\n\n{extra}" if extra.strip() else text


def _system(row: dict) -> Conversation:
    system = row.get("system")
    return [{"role": "system", "content": _text(system, "'system'")}] if system else []


def from_alpaca(row: dict) -> list[Conversation]:
    """An Alpaca row: system (optional), the instruction with its input, the output."""
    return [_system(row) + [{"role": "user", "content": _user_turn(row["instruction"], row.get("input"))},
                            {"role": "assistant", "content": _text(row["output"], "'output'")}]]


def from_self_instruct(row: dict) -> list[Conversation]:
    """A Self-Instruct seed task: one Alpaca conversation per instance."""
    instances = row["instances"]
    if not isinstance(instances, list) or not instances:
        raise BadRow("'instances' must be a non-empty list of {input, output}")
    chats = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict) or "output" not in inst:
            raise BadRow(f"instance {i + 1} has no 'output'")
        try:
            chats += from_alpaca({"instruction": row["instruction"], "input": inst.get("input"),
                                  "output": inst["output"]})
        except BadRow as e:
            raise BadRow(f"instance {i + 1}: {e}") from None
    return chats


def _parts(value: Any) -> Any:
    """OpenAI-style content parts (`[{type: text, text}]`) as one string; other values as they are."""
    if not isinstance(value, list):
        return value
    if not all(isinstance(p, dict) and p.get("type", "text") == "text" and "text" in p for p in value):
        raise BadRow("content parts other than text (images, audio) cannot be trained on here")
    return "".join(p["text"] for p in value)


def _turns(items: Any, field: str, role_key: str, text_key: str, roles: dict[str, str]) -> Conversation:
    if not isinstance(items, list) or not items:
        raise BadRow(f"'{field}' must be a non-empty list")
    chat = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or role_key not in item or text_key not in item:
            raise BadRow(f"{field} item {i} needs '{role_key}' and '{text_key}'")
        role = roles.get(str(item[role_key]).lower())
        if role is None:
            raise BadRow(f"{field} item {i} has {role_key} '{item[role_key]}'; expected one of {', '.join(roles)}")
        chat.append({"role": role, "content": _text(_parts(item[text_key]), f"{field} item {i} '{text_key}'",
                                                    allow_empty=role != "assistant")})
    return chat


def from_messages(row: dict) -> list[Conversation]:
    """A chat row: `messages` with `role` and `content`."""
    return [_turns(row["messages"], "messages", "role", "content", {r: r for r in ROLES})]


def from_sharegpt(row: dict) -> list[Conversation]:
    """A ShareGPT row: `conversations` with `from` and `value` (and an optional row-level `system`)."""
    return [_system(row) + _turns(row["conversations"], "conversations", "from", "value", SHAREGPT_ROLES)]


HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def from_hh(row: dict) -> list[Conversation]:
    """An Anthropic HH row: the `chosen` dialogue, split at its `\n\nHuman: ` / `\n\nAssistant: ` markers."""
    text = _text(row["chosen"], "'chosen'")
    parts = HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise BadRow("'chosen' must start with \"\\n\\nHuman: \" and hold Human/Assistant turns")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [[{"role": roles[speaker], "content": _text(content, f"'chosen' {speaker} turn {i + 1}",
                                                       allow_empty=speaker == "Human")}
             for i, (speaker, content) in enumerate(zip(parts[1::2], parts[2::2]))]]


READ = {"alpaca": from_alpaca, "messages": from_messages, "sharegpt": from_sharegpt,
        "self-instruct": from_self_instruct, "hh": from_hh}


def check_conversation(chat: Conversation) -> None:
    """Fail unless the conversation has an assistant turn and a system message only at its start."""
    if not any(m["role"] == "assistant" for m in chat):
        raise BadRow("the conversation has no assistant turn, so nothing to learn from")
    if any(m["role"] == "system" for m in chat[1:]):
        raise BadRow("a system message may only open the conversation")


def to_conversations(row: dict, fmt: str) -> list[Conversation]:
    """The conversations of one row in layout `fmt`; raises BadRow."""
    missing = [k for k in REQUIRED[fmt] if row.get(k) is None]
    if missing:
        raise BadRow(f"missing field '{missing[0]}' of the {fmt} format (fields: {', '.join(row) or 'none'})")
    chats = READ[fmt](row)
    for chat in chats:
        check_conversation(chat)
    return chats


def _rows(spec: str, required: list[str], report: ReadReport, on_bad_rows: BadRows) -> Iterator[tuple[str, dict]]:
    """(file:line, row) of a source. JSON files are read here, not through a datasets table: Arrow takes
    its columns from the first rows and silently drops keys that appear only later (an Alpaca `input`)."""
    files = sorted(glob.glob(spec)) if any(ch in spec for ch in "*?[") else [spec]
    kinds = {extension(p).lstrip(".") for p in files}
    if files and all(os.path.isfile(p) for p in files) and kinds <= {"json", "jsonl"}:
        for path in files:
            yield from READERS[extension(path).lstrip(".")](path, "line", required, report,
                                                                              on_bad_rows)
        return
    from lmlearn.data.sources import load_source

    ds = load_source(spec, required=required, on_bad_rows=on_bad_rows, report=report, locate=True)
    for row in ds.to_list():
        yield row.pop(WHERE), row


def read_conversations(spec: str, fmt: str = "auto", on_bad_rows: BadRows = "error",
                       report: ReadReport | None = None) -> list[tuple[str, list[Conversation]]]:
    """(file:line, conversations) for every usable row of `spec`, in layout `fmt` or the detected one."""
    report = report if report is not None else ReadReport()
    rows = []
    for where, row in _rows(spec, REQUIRED.get(fmt, []), report, on_bad_rows):
        if fmt == "auto":
            fmt = detect_format(list(row), where)
        try:
            rows.append((where, to_conversations(row, fmt)))
        except BadRow as e:
            report.bad(f"{where}: {e}", on_bad_rows)
    if not rows:
        raise LmlearnError(f"{spec}: no usable conversations")
    return rows
