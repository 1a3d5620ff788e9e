"""The prompts of Self-Instruct (Wang et al. 2022) and Alpaca (Taori et al. 2023), and the parsers of their replies.

Self-Instruct asks for new instructions after a numbered list of 8 (6 human-written, 2 generated), asks
whether each new one is a classification task (few-shot, from the seed tasks' own labels), then asks for
its instances: input first for most tasks, output (the class label) first for classification, so the
labels do not all come out the same. Alpaca asks for whole tasks (instruction, input, output) in one
request after 3 seed tasks. Every prompt is plain text for a completion model; a chat model gets it as
the user's turn, and the parsers accept a reply that restarts the numbering.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

LANGUAGES = {"en": "English", "ko": "Korean", "ja": "Japanese", "zh": "Chinese"}


@dataclass
class Task:
    """A task: an instruction and its instances ({input, output})."""

    instruction: str
    instances: list[dict]
    is_classification: bool = False


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":")


def _language_line(language: str) -> str:
    return "" if language == "en" else f"Write every task in {LANGUAGES.get(language, language)}.\n"


# Self-Instruct: new instructions after a numbered list -------------------------------------------------------

def instruction_prompt(instructions: list[str], language: str = "en") -> str:
    """The numbered list of `instructions`, ending with the next number for the model to go on from."""
    head = "Come up with a series of tasks:\n"
    lines = [f"{i + 1}. {_one_line(text)}" for i, text in enumerate(instructions)]
    return head + _language_line(language) + "\n".join(lines) + f"\n{len(instructions) + 1}."


def instruction_stops(n_shown: int, chat: bool = False) -> list[str]:
    """Stop before the list reaches 16 items, as Self-Instruct does, or at a blank line. A chat model's reply
    often opens with a line and a blank one ("Here are more tasks:"), so for chat the blank line is no stop."""
    stops = ["\n16", "16.", "16 ."] if n_shown < 15 else []
    return stops if chat else ["\n\n", *stops]


_NUMBER = re.compile(r"(?:^|\n)[ \t]*\d+\s?\.(?!\d)[ \t]*")  # "9." but not "3.14"
_CHAT_ITEM = re.compile(r"(?:^|\n)[ \t]*(?:\d+\s?[.)](?!\d)|[-*•])[ \t]*")  # chat models also write 9) and bullets


def parse_instructions(reply: str, next_number: int, chat: bool = False) -> list[str]:
    """The instructions of a reply that goes on from `next_number.` (or restarts with its own numbers).

    A completion model's reply begins with the text of item `next_number`. A chat model's may begin with a
    preamble ("Sure! Here are more tasks:"), dropped when items follow and it ends with a colon or a blank
    line; its items may be bulleted. An item ends at a blank line, so closing words do not join the last."""
    head, *items = (_CHAT_ITEM if chat else _NUMBER).split(reply.replace("**", ""))
    preamble = chat and items and (head.rstrip().endswith(":") or head.rstrip(" \t").endswith("\n"))
    if head.strip() and not preamble:
        items.insert(0, head)
    out = []
    for item in items:
        item = re.sub(r"\s+", " ", re.split(r"\n[ \t]*\n", item.strip())[0]).strip()
        if item:
            out.append(item[0].upper() + item[1:])
    return out


# Self-Instruct: is it a classification task? -----------------------------------------------------------------

def classification_prompt(instruction: str, demos: list[Task]) -> str:
    """A few-shot question whether `instruction` has a finite set of output labels."""
    head = "Can the following task be regarded as a classification task with finite output labels?\n\n"
    shots = "".join(f"Task: {_one_line(t.instruction)}\nIs it classification? {'Yes' if t.is_classification else 'No'}"
                    f"\n\n" for t in demos)
    return head + shots + f"Task: {_one_line(instruction)}\nIs it classification?"


def parse_classification(reply: str) -> bool | None:
    """Yes -> True, No -> False, anything else -> None."""
    answers = {"yes": True, "no": False, "예": True, "네": True, "아니요": False, "아니오": False}
    first = reply.strip().split("\n")[0]
    word = re.match(r"\W*(\w+)", first)  # past markup and quotes: "**Yes**", '"No."'
    if word and word.group(1).lower() in answers:
        return answers[word.group(1).lower()]
    # a chat model that restates the question or labels its answer: "Is it classification? Yes", "Answer: No"
    after = re.search(r"[?:]\W*(\w+)", first)
    return answers.get(after.group(1).lower()) if after else None


# Self-Instruct: instances, input first or output first --------------------------------------------------------

def _examples(task: Task) -> str:
    parts = []
    for i, inst in enumerate(task.instances):
        given = f"Input: {inst['input'].strip()}\n" if inst["input"].strip() else ""
        parts.append(f"Example {i + 1}\n{given}Output: {inst['output'].strip()}\n")
    return "".join(parts)


def _labels(task: Task) -> str:
    return "".join(f"Class label: {inst['output'].strip()}\nInput: {inst['input'].strip()}\n"
                   for inst in task.instances)


def instance_prompt(instruction: str, demos: list[Task], classification: bool) -> str:
    """Ask for instances of `instruction`: labels then inputs for classification, inputs then outputs otherwise."""
    if classification:
        head = ("Given the classification task definition and the class labels, generate an input that "
                "corresponds to each of the class labels. If the task doesn't require input, just generate the "
                "correct class label.\n\n")
        shots = "".join(f"Task: {_one_line(t.instruction)}\n{_labels(t)}\n" for t in demos)
    else:
        head = ("Come up with examples for the following tasks. Try to generate multiple examples when possible. "
                "If the task doesn't require additional input, you can generate the output directly.\n\n")
        shots = "".join(f"Task: {_one_line(t.instruction)}\n{_examples(t)}\n" for t in demos)
    return head + shots + f"Task: {_one_line(instruction)}\n"


def instance_stops(chat: bool = False) -> list[str]:
    """Stop at the next task, or at two blank lines. A chat model may open by restating "Task: ...", so for
    chat only a "Task:" on a later line stops it."""
    return ["\nTask:", "\n\n\n"] if chat else ["Task:", "\n\n\n"]


_BULLET = r"(?:(?:[-*•]|\d+[.)])[ \t]*)?"
# a header's title on its own line ("Example 1: A haiku about spring") is not an input; a field after it is
_EXAMPLE = re.compile(r"(?:^|\n)[ \t#]*" + _BULLET + r"Example[ \t]*\d+[ \t]*[:.)]?[ \t]*(?:(?!Input:|Output:)[^\n])*")
_FIELD = re.compile(r"(?:^|\n)[ \t]*" + _BULLET + r"(Input|Output):")


def _pairs(piece: str, headed: bool) -> list[dict]:
    """The Input/Output pairs of one example's text: a field runs to the next "Input:" or "Output:" line."""
    lead, *fields = _FIELD.split(piece)
    # under an "Example N" header, text before the first field is the input (Self-Instruct's own layout);
    # in a reply without headers it is the model's preamble
    given, pairs = lead.strip() if headed else "", []
    for name, value in zip(fields[::2], fields[1::2]):
        if name == "Input":
            given = value.strip()
        else:
            pairs.append({"input": given, "output": value.strip()})
            given = ""
    return pairs


def parse_instances(reply: str, classification: bool) -> list[dict]:
    """{input, output} pairs from a reply to `instance_prompt`.

    Takes "Example 1", "Example 1:" or "**Example 1**" headers, or none (bare Input:/Output: pairs, as chat
    models often write them). A class label is the first line after "Class label:"."""
    reply = re.sub(r"^\s*Task:[^\n]*\n", "", reply.replace("**", ""))  # a restated task line
    reply = reply.split("Task:")[0]
    if classification:
        instances = []
        for piece in re.split(r"(?:^|\n)[ \t]*Class label:", reply)[1:]:
            label, *given = re.split(r"\n\s*Input:", piece, maxsplit=1)
            label = label.strip().split("\n")[0]  # the label, not what a chat model says about it
            instances.append({"input": given[0].strip() if given else "", "output": label.strip()})
        return instances
    pieces = _EXAMPLE.split(reply)
    if len(pieces) == 1:
        return _pairs(reply, headed=False)
    return [pair for piece in pieces[1:] for pair in _pairs(piece, headed=True)]


# Alpaca: whole tasks in one reply ------------------------------------------------------------------------------

def alpaca_prompt(demos: list[Task], n_tasks: int = 20, language: str = "en") -> str:
    """Alpaca's request for `n_tasks` diverse tasks, with `demos` as its first items (in our wording)."""
    name = LANGUAGES.get(language, language)
    head = (f"Write {n_tasks} diverse tasks for a language model to carry out; the tasks will be used to test how "
            f"well it follows instructions.\n\nRequirements:\n"
            "1. Vary the verbs and the phrasing: mix questions with imperatives.\n"
            "2. Vary the kind of task: open-ended writing, classification, rewriting, extraction, reasoning, and "
            "more.\n"
            "3. A text-only model must be able to do the task: no pictures, sounds or actions in the world.\n"
            f"4. Write the instructions in {name}, one or two sentences each.\n"
            "5. Give a concrete, realistic input of at most 100 words where the task needs one; where it does "
            "not, write <noinput>.\n"
            "6. Give a fitting output of at most 100 words.\n\n"
            f"List of {n_tasks} tasks:\n")
    body = ""
    for i, task in enumerate(demos):
        inst = task.instances[0]
        body += (f"###\n{i + 1}. Instruction: {_one_line(task.instruction)}\n{i + 1}. Input:\n"
                 f"{inst['input'].strip() or '<noinput>'}\n{i + 1}. Output:\n{inst['output'].strip()}\n")
    return head + body + f"###\n{len(demos) + 1}. Instruction:"


def alpaca_stops(n_tasks: int) -> list[str]:
    return [f"\n{n_tasks}.", f"{n_tasks}. Instruction"]


_ALPACA_ITEM = re.compile(r"^\s*\d+\.\s*Instruction:(.*?)\n\s*\d+\.\s*Input:(.*?)\n\s*\d+\.\s*Output:(.*)$", re.DOTALL)


def parse_alpaca(reply: str, next_number: int, finished: bool,
                 chat: bool = False) -> tuple[list[Task], list[str], bool]:
    """(tasks, the blocks that do not parse, whether a last block was dropped as cut off) of an Alpaca reply. A chat
    model's reply starts at its first numbered instruction; what comes before is its preamble."""
    reply = reply.replace("**", "")
    first = re.search(r"\d+\.\s*Instruction:", reply)
    if chat and first:
        reply = reply[first.start():]
    text = reply if re.match(r"\s*(###)?\s*\d+\.\s*Instruction:", reply) else f"{next_number}. Instruction:{reply}"
    # blocks are "###"-separated; a chat model may leave the marks out and start each at "N. Instruction:"
    blocks = [b for b in re.split(r"###|\n(?=[ \t]*\d+\.\s*Instruction:)", text) if b.strip()]
    truncated = not finished and bool(blocks)
    if truncated:
        blocks = blocks[:-1]  # decoding stopped on the length limit: the last task is likely cut off
    tasks, bad = [], []
    for block in blocks:
        match = _ALPACA_ITEM.match(block.strip("\n"))
        if not match:
            bad.append(block.strip())
            continue
        instruction, given, output = (m.strip() for m in match.groups())
        given = "" if given.lower() == "<noinput>" else given
        tasks.append(Task(re.sub(r"\s+", " ", instruction), [{"input": given, "output": output}]))
    return tasks, bad, truncated


def sample(rng: random.Random, items: list, k: int) -> list:
    """k items drawn without replacement (all of them when there are fewer)."""
    return rng.sample(items, min(k, len(items)))
