"""What Self-Instruct (Wang et al. 2022) and Alpaca drop from a model's generated tasks.

An instruction goes if it is too short or too long in words, names something a text model cannot see
or do (image, file, draw...: the blacklist), starts with "Write a program" (which the model tacks onto
existing tasks), starts with punctuation, or (for English data) starts with a non-ASCII character; then
if its ROUGE-L F against any instruction already in the pool exceeds 0.7. An instance goes if its
output is empty, repeats its input, ends with a colon (cut short), repeats another instance, or shares
its input with an instance whose output differs. Each drop is counted under its reason.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

# Alpaca's list (Self-Instruct's and video, audio, music, flowchart, diagram); Korean nouns for the same things.
BLACKLIST = {
    "en": ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
           "plot", "go to", "video", "audio", "music", "flowchart", "diagram"),
    "ko": ("이미지", "그림", "사진", "그래프", "파일", "지도", "동영상", "비디오", "오디오", "음악", "순서도",
           "다이어그램", "도표"),
}

TOO_SHORT = "instruction too short"
TOO_LONG = "instruction too long"
BLACKLISTED = "instruction names a blacklisted word"
BANNED_START = "instruction starts with a banned phrase"
PUNCTUATION_START = "instruction starts with punctuation"
NOT_ENGLISH = "instruction starts with a non-English character"
SIMILAR = "instruction too similar to the pool (ROUGE-L)"
EMPTY_OUTPUT = "instance with an empty output"
OUTPUT_IS_INPUT = "instance output repeats its input"
CUT_SHORT = "instance ends with a colon"
DUPLICATE = "duplicate instance"
CONFLICT = "instances share an input but not the output"


def _mentions(word: str, text: str) -> bool:
    """Whole-word match for Latin words; a substring for Hangul, where particles attach to the noun (파일을)."""
    if word.isascii():
        return re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE) is not None
    return word in text


@dataclass
class InstructionFilter:
    """The checks an instruction passes before its similarity to the pool is measured."""

    min_words: int = 4  # Self-Instruct drops instructions of 3 words or fewer
    max_words: int = 150
    blacklist: tuple[str, ...] = BLACKLIST["en"]
    banned_starts: tuple[str, ...] = ("Write a program",)
    english: bool = True  # the first character must be ASCII (Self-Instruct's filter for English data)

    def reason(self, instruction: str) -> str | None:
        """Why `instruction` is dropped, or None when it passes."""
        words = len(instruction.split())
        if words < self.min_words:
            return TOO_SHORT
        if words > self.max_words:
            return TOO_LONG
        if any(_mentions(w, instruction) for w in self.blacklist):
            return BLACKLISTED
        if instruction.startswith(self.banned_starts):
            return BANNED_START
        if instruction[0] in string.punctuation:
            return PUNCTUATION_START
        if self.english and not instruction[0].isascii():
            return NOT_ENGLISH
        return None


def words(text: str) -> list[str]:
    """ROUGE-L's tokens: `\\w+` runs, lower-cased. rouge-score's default tokenizer keeps only [a-z0-9], so
    Hangul would score 0 against anything."""
    return re.findall(r"\w+", text.lower())


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists (one row of the DP table at a time)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(target: list[str], prediction: list[str]) -> float:
    """ROUGE-L F1 of two token lists, computed as rouge-score does (2PR / (P + R) in floats, so a pair at the
    threshold falls on the same side of it as in Self-Instruct)."""
    lcs = _lcs(target, prediction)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(prediction), lcs / len(target)
    return 2 * precision * recall / (precision + recall)


class SimilarityPool:
    """The instructions so far, and the highest ROUGE-L F of a new one against them. Each instruction is
    tokenized once, and a pool instruction whose length alone bounds its score below the best so far is
    skipped, so a pool of thousands stays quick."""

    def __init__(self, instructions: list[str], threshold: float = 0.7):
        self.threshold = threshold
        self.instructions: list[str] = []
        self.tokens: list[list[str]] = []
        for instruction in instructions:
            self.add(instruction)

    def closest(self, instruction: str) -> tuple[float, str]:
        """(ROUGE-L F, instruction) of the pool's instruction most like `instruction`."""
        mine = words(instruction)
        best = (0.0, "")
        for other, tokens in zip(self.instructions, self.tokens):
            if not mine or not tokens or 2 * min(len(mine), len(tokens)) / (len(mine) + len(tokens)) <= best[0]:
                continue  # even a full match of the shorter one could not beat the best
            score = rouge_l(tokens, mine)
            if score > best[0]:
                best = (score, other)
        return best

    def too_similar(self, score: float) -> bool:
        return score > self.threshold

    def add(self, instruction: str) -> None:
        self.instructions.append(instruction)
        self.tokens.append(words(instruction))


def clean_instances(instances: list[dict]) -> tuple[list[dict], list[tuple[str, dict]]]:
    """The instances that pass, and (reason, instance) for each one dropped."""
    kept: list[dict] = []
    dropped: list[tuple[str, dict]] = []
    seen: set[tuple[str, str]] = set()
    for inst in instances:
        given, output = inst["input"].strip(), inst["output"].strip()
        if not output:
            dropped.append((EMPTY_OUTPUT, inst))
        elif output == given:
            dropped.append((OUTPUT_IS_INPUT, inst))
        elif given.endswith(":") or output.endswith(":"):
            dropped.append((CUT_SHORT, inst))
        elif (given, output) in seen:
            dropped.append((DUPLICATE, inst))
        else:
            seen.add((given, output))
            kept.append({"input": given, "output": output})
    outputs_by_input: dict[str, set[str]] = {}
    for inst in kept:
        outputs_by_input.setdefault(inst["input"], set()).add(inst["output"])
    conflicting = {given for given, outs in outputs_by_input.items() if given and len(outs) > 1}
    dropped += [(CONFLICT, inst) for inst in kept if inst["input"] in conflicting]
    return [inst for inst in kept if inst["input"] not in conflicting], dropped

