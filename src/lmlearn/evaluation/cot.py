"""Chain of thought: few-shot CoT (Wei et al.), zero-shot CoT in two stages (Kojima et al.), and
self-consistency (Wang et al.): several sampled reasoning paths, one majority vote.

A task opts in with a `cot` mapping, e.g. `cot: {mode: zero_shot, lang: ko, num_samples: 5}`.
Answers are numbers: compared after removing commas, so "#### 1,234" and "1234" agree.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Any

from lmlearn.evaluation import lm as lm_mod
from lmlearn.evaluation import metrics as M

MODES = ("few_shot", "zero_shot")
# Kojima et al.'s triggers (Table 4's best, and the arithmetic answer trigger), and Korean renderings.
TRIGGERS = {
    "en": ("Let's think step by step.", "Therefore, the answer (arabic numerals) is"),
    "ko": ("차근차근 생각해 봅시다.", "따라서 답(아라비아 숫자)은"),
}
_NUMBER = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


@dataclass
class CotConfig:
    """A task's chain-of-thought settings (the `cot` key), defaults filled in."""

    mode: str = "few_shot"
    lang: str = "en"
    reasoning_trigger: str = ""
    answer_trigger: str = ""
    answer_max_new_tokens: int = 32
    num_samples: int = 1
    temperature: float = 0.7  # Wang et al. sample at about 0.7; used only when num_samples > 1
    top_p: float = 1.0


def parse_cot(value: Any) -> CotConfig:
    """Check a task's `cot` mapping; a ValueError's text names the bad key and what would fix it."""
    if not isinstance(value, dict):
        raise ValueError(f"cot must be a mapping such as {{mode: zero_shot, lang: en}}, got {value!r}")
    fields = CotConfig.__dataclass_fields__
    for key in value:
        if key not in fields:
            raise ValueError(f"cot: unknown key '{key}'; valid: {', '.join(fields)}")
    cfg = CotConfig(**value)
    if cfg.mode not in MODES:
        raise ValueError(f"cot: mode '{cfg.mode}' must be one of {', '.join(MODES)}")
    if cfg.lang not in TRIGGERS:
        raise ValueError(f"cot: lang '{cfg.lang}' must be one of {', '.join(TRIGGERS)}")
    for key in ("reasoning_trigger", "answer_trigger"):
        if not isinstance(getattr(cfg, key), str):
            raise ValueError(f"cot: {key} must be text, got {getattr(cfg, key)!r}")
    for key in ("answer_max_new_tokens", "num_samples"):
        if not isinstance(getattr(cfg, key), int) or isinstance(getattr(cfg, key), bool) or getattr(cfg, key) < 1:
            raise ValueError(f"cot: {key} must be a whole number >= 1, got {getattr(cfg, key)!r}")
    check_sampling(cfg.temperature, cfg.top_p, "cot: ")
    default_reasoning, default_answer = TRIGGERS[cfg.lang]
    cfg.reasoning_trigger = cfg.reasoning_trigger or default_reasoning
    cfg.answer_trigger = cfg.answer_trigger or default_answer
    return cfg


def check_sampling(temperature: Any, top_p: Any, prefix: str = "") -> None:
    """Temperature > 0 and 0 < top_p <= 1, or a ValueError naming the one that is wrong."""
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature <= 0:
        raise ValueError(f"{prefix}temperature must be a number > 0, got {temperature!r}")
    if not isinstance(top_p, (int, float)) or isinstance(top_p, bool) or not 0 < top_p <= 1:
        raise ValueError(f"{prefix}top_p must be a number in (0, 1], got {top_p!r}")


def normalize_number(text: str) -> str:
    """'1,234' -> '1234', '72.00' -> '72', '-0.50' -> '-0.5'."""
    text = text.replace(",", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def extract_number(text: str, pattern: str | None = None, take: str = "last") -> str:
    """The answer number: the first match of `pattern` if any, else the `take` ('first'/'last') number of the text."""
    if pattern:
        match = re.search(pattern, text)
        if match:
            found = _NUMBER.findall(match.group(1) if match.groups() else match.group(0))
            if found:
                return normalize_number(found[0])
    found = _NUMBER.findall(text)
    if not found:
        return M.INVALID
    return normalize_number(found[0] if take == "first" else found[-1])


def majority_vote(answers: list[str]) -> tuple[str, dict[str, int]]:
    """The most frequent valid answer and the vote counts; invalid answers do not vote.

    Ties go to the answer seen first (the greedy-like first path), so a run is reproducible.
    """
    votes = collections.Counter(a for a in answers if a != M.INVALID)
    if not votes:
        return M.INVALID, {}
    best = max(votes.values())
    winner = next(a for a in answers if votes.get(a) == best)
    return winner, dict(votes)


def run(task: Any, lm: lm_mod.LanguageModel, docs: list[dict], contexts: list[str], batch_size: int, *,
        seed: int = 0, num_samples: int | None = None, temperature: float | None = None,
        top_p: float | None = None) -> tuple[dict[str, list], list[dict]]:
    """Reason (and, zero-shot, extract the answer in a second stage) over one or more paths, then vote."""
    cot = task.cot
    n = num_samples or cot.num_samples
    # One path is greedy; several are sampled (self-consistency), each pass with its own seed.
    temp = (temperature or cot.temperature) if n > 1 else 0.0
    top = top_p or cot.top_p
    zero_shot = cot.mode == "zero_shot"
    prompts = [f"{c} {cot.reasoning_trigger}" for c in contexts] if zero_shot else contexts
    paths: list[list[dict]] = [[] for _ in docs]
    for k in range(n):
        reasons = lm_mod.generate_until(lm, prompts, task.until, task.max_new_tokens, batch_size,
                                        temperature=temp, top_p=top, seed=seed + k)
        if zero_shot:
            stage2 = [f"{p}{r} {cot.answer_trigger}" for p, r in zip(prompts, reasons)]
            # Stage 2 is greedy (the vote is over reasoning paths); Kojima et al.'s answer cleansing
            # takes the first number of its short output.
            answers = lm_mod.generate_until(lm, stage2, ["\n"], cot.answer_max_new_tokens, batch_size)
            for i, (r, p2, a) in enumerate(zip(reasons, stage2, answers)):
                paths[i].append({"generation": r, "answer_prompt": p2, "answer_generation": a,
                                 "answer": extract_number(a, None, "first")})
        else:
            for i, r in enumerate(reasons):
                paths[i].append({"generation": r, "answer": extract_number(r, task.answer_regex, "last")})
    items: dict[str, list] = {"exact_match": [], "f1": [], "rouge": []}
    samples = []
    for doc, prompt, doc_paths in zip(docs, prompts, paths):
        target = extract_number(task.target_text(doc), task.answer_regex, "last")
        pred, votes = majority_vote([p["answer"] for p in doc_paths])
        result = {"exact_match": float(pred != M.INVALID and pred == target), "f1": M.token_f1(pred, target),
                  "rouge": M.rouge_l(pred, target)}
        for key in items:
            items[key].append(result[key])
        samples.append({"prompt": prompt, "generation": doc_paths[0]["generation"], "paths": doc_paths,
                        "votes": votes, "prediction": pred, "target": target, **result})
    return items, samples
