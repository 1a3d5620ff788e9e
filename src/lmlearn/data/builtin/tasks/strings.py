"""`builtin:strings`: spell, reverse and count the letters of a word. Cluster `string_manipulation`.

Words are the world's one-word nouns of two letters or more (cities, jobs, foods, animals,
objects, shop items). English rows work on letters, Korean rows on Hangul syllables (the unit a
Korean reader counts as a 글자): "고양이" reversed is "이양고" and has 3 글자. Uppercasing has no
Korean counterpart, so English has one operation more. The word is always in double quotes.
"""

import random
from typing import Callable

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.korean import render
from lmlearn.data.builtin.tasks.common import task_rows
from lmlearn.data.builtin.world import World, make_world

NAME, CLUSTER = "strings", "string_manipulation"

# operation: (English instruction, Korean instruction or None where Korean has no such thing, result)
_OPERATIONS: dict[str, tuple[str, str | None, Callable[[str], str]]] = {
    "reverse": ('Write the word "{w}" backwards.', '{q:을} 거꾸로 쓰세요.', lambda w: w[::-1]),
    "count": ('How many letters are in "{w}"?', '{q:은} 몇 글자예요?', lambda w: str(len(w))),
    "first": ('What is the first letter of "{w}"?', '{q}의 첫 글자는 뭐예요?', lambda w: w[0]),
    "last": ('What is the last letter of "{w}"?', '{q}의 마지막 글자는 뭐예요?', lambda w: w[-1]),
    "spell": ('Spell "{w}" with a space between the letters.', '{q}의 글자 사이를 한 칸씩 띄어 쓰세요.', " ".join),
    "double": ('Write "{w}" twice, with no space in between.', '{q:을} 띄어쓰기 없이 두 번 이어 쓰세요.', lambda w: w + w),
    "upper": ('Write "{w}" in capital letters.', None, str.upper),
}


def _words(world: World, lang: str) -> list[str]:
    groups = (world.cities, world.jobs, world.foods, world.animals, world.objects, world.items)
    words = {getattr(e, lang) for group in groups for e in group}
    # One-letter words (책, 꽃) would make reversing and spelling out copy the word.
    return sorted(w for w in words if len(w) > 1 and " " not in w and (lang == "ko" or w.isalpha()))


@register_builtin(NAME)
def strings(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Instructions {source, target}: reverse, count, first/last letter, spell out, double, uppercase."""
    facts = make_world(world)
    words = {"en": _words(facts, "en"), "ko": _words(facts, "ko")}

    def make(rng: random.Random, _: None, row_lang: str) -> dict:
        word = rng.choice(words[row_lang])
        operation = rng.choice([op for op, (_, ko, _) in _OPERATIONS.items() if row_lang == "en" or ko])
        en, ko, result = _OPERATIONS[operation]
        source = en.format(w=word) if row_lang == "en" else render(ko, {"q": f'"{word}"'})
        return {"source": source, "target": result(word), "operation": operation, "answer": result(word)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make)
