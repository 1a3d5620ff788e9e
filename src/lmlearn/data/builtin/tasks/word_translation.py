"""`builtin:word_translation`: translate a word or short phrase, English↔Korean. Cluster `translation`.

Words come from the world's lexicon (cities, jobs, foods, hobbies, animals, colours, countable
objects, shop items). One row in five translates a colour and an animal ("red cat" ↔ "빨간
고양이") and one in five a count of objects ("3 apples" ↔ "사과 3개"), where the word order and
the Korean counter have to be got right. `lang` is the source's language: English rows ask in
English for the Korean (`direction` en-ko), Korean rows ask in Korean for the English (ko-en).
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.korean import render
from lmlearn.data.builtin.phrasing import count
from lmlearn.data.builtin.tasks.common import task_rows
from lmlearn.data.builtin.world import Entity, World, make_world

NAME, CLUSTER = "word_translation", "translation"
_ASK = {"en": ["Translate into Korean: {w}", 'What is "{w}" in Korean?'],
        "ko": ["영어로 번역하세요: {w}", "{q:은} 영어로 뭐예요?"]}


def _phrase(rng: random.Random, world: World) -> Entity:
    """A word (three times in five), a coloured animal or a count of objects."""
    kind = rng.choices(["word", "colour", "count"], weights=[3, 1, 1])[0]
    if kind == "colour":
        colour, animal = rng.choice(world.colours), rng.choice(world.animals)
        return Entity(f"{colour.en} {animal.en}", f"{colour.ko_mod} {animal.ko}")
    if kind == "count":
        thing, n = rng.choice(world.objects), rng.randint(1, 9)
        counted = count(n, thing)
        return Entity(counted.en, f"{thing.ko} {counted.ko}")
    groups = (world.cities, world.jobs, world.foods, world.hobbies, world.animals, world.colours, world.objects,
              world.items)
    return rng.choice(rng.choice(groups))


@register_builtin(NAME)
def word_translation(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Rows {source, target, direction (en-ko or ko-en)}; `lang` picks the source language."""
    facts = make_world(world)

    def make(rng: random.Random, _: None, row_lang: str) -> dict:
        phrase = _phrase(rng, facts)
        word, target = (phrase.en, phrase.ko) if row_lang == "en" else (phrase.ko, phrase.en)
        source = render(rng.choice(_ASK[row_lang]), {"w": word, "q": f'"{word}"'})
        direction = "en-ko" if row_lang == "en" else "ko-en"
        return {"source": source, "target": target, "direction": direction, "answer": target}

    return task_rows(NAME, CLUSTER, n, seed, lang, make)
