"""What every task of the suite shares: checking options, dealing labels and languages, FLAN fields."""

import random
from typing import Callable, Hashable, Sequence

from lmlearn.errors import LmlearnError

LANGS = ("en", "ko", "both")
MakeRow = Callable[[random.Random, Hashable, str], dict]


def task_rows(name: str, cluster: str, n: int, seed: int, lang: str, make: MakeRow,
              labels: Sequence[Hashable] = (None,)) -> list[dict]:
    """`n` rows of `builtin:name`, each `make(rng, label, lang)` plus the fields task, cluster and lang.

    The (label, language) cells are dealt round-robin and then shuffled, so labels and languages
    are balanced to within one row whatever `n` is.
    """
    # A string seed goes through SHA-512, not hash(): the same in every process. Naming the task in
    # it keeps two tasks with the same seed from drawing the same people in the same order.
    rng = random.Random(f"builtin:{name}:{seed}")
    return [{**make(rng, label, row_lang), "task": name, "cluster": cluster, "lang": row_lang}
            for label, row_lang in deal(name, n, lang, labels, rng)]


def deal(name: str, n: int, lang: str, labels: Sequence[Hashable], rng: random.Random) -> list[tuple]:
    """`n` (label, language) cells of `builtin:name`, dealt round-robin and shuffled with `rng`: labels and
    languages balanced to within one row. Checks `n` and `lang` first."""
    if n < 1:
        raise LmlearnError(f"builtin:{name}: n={n} must be at least 1")
    if lang not in LANGS:
        raise LmlearnError(f"builtin:{name}: lang={lang!r} must be one of {', '.join(LANGS)}")
    langs = ["en", "ko"] if lang == "both" else [lang]
    cells = [(label, row_lang) for label in labels for row_lang in langs]
    slots = [cells[i % len(cells)] for i in range(n)]
    rng.shuffle(slots)
    return slots


def choice(options: Sequence[str], index: int) -> dict:
    """The FLAN fields of a classification row: its answer strings and the gold one."""
    return {"options": list(options), "answer": options[index]}


def side(pair: tuple[str, str], lang: str) -> str:
    """One language's half of an (English, Korean) pair."""
    return pair[0] if lang == "en" else pair[1]
