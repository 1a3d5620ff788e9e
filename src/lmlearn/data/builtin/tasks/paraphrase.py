"""`builtin:paraphrase`: do two short texts say the same thing? Cluster `paraphrase`.

Both texts state the same two facts about a person of the world, each fact in a different
phrasing on the two sides, and the facts in either order. A paraphrase (label 1) keeps every
detail; a near miss (label 0) changes exactly one: one fact's value, or the person (to another
of the same gender, so he/she still fits). Wording always differs, so only the details decide.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.tasks import facts
from lmlearn.data.builtin.tasks.common import choice, side, task_rows
from lmlearn.data.builtin.world import Person, World, make_world

NAME, CLUSTER = "paraphrase", "paraphrase"
OPTIONS = {"en": ["no", "yes"], "ko": ["아니요", "예"]}
NEW_PERSON = 0.25  # the share of near misses that change the person rather than a value


def _near_miss(rng: random.Random, world: World, person: Person, attributes: list[str]) -> tuple[Person, dict]:
    """The person and attribute values of a near miss: one detail differs from `person`'s."""
    if rng.random() < NEW_PERSON:
        # Another person, stated with the original's values; never the friend ("X and X are best friends").
        others = [p for p in world.people if p.gender == person.gender and p.name not in (person.name, person.friend)]
        return rng.choice(others), {a: facts.value(person, a) for a in attributes}
    attribute = rng.choice(attributes)
    return person, {attribute: rng.choice(facts.other_values(world, person, attribute))}


def _texts(rng: random.Random, world: World, label: int, lang: str) -> list[str]:
    person = rng.choice(world.people)
    attributes = rng.sample(facts.ATTRIBUTES, 2)
    first, phrasings = facts.describe(rng, person, attributes)
    other, values = (person, {}) if label else _near_miss(rng, world, person, attributes)
    rng.shuffle(attributes)
    second, _ = facts.describe(rng, other, attributes, avoid=phrasings, **values)
    texts = [" ".join(side(s, lang) for s in sentences) for sentences in (first, second)]
    rng.shuffle(texts)  # the near miss is as often first as second
    return texts


@register_builtin(NAME)
def paraphrase(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Pairs {text, text_pair, label (1 same meaning, 0 one detail changed)}, half of each."""
    world_facts = make_world(world)

    def make(rng: random.Random, label: int, row_lang: str) -> dict:
        text, text_pair = _texts(rng, world_facts, label, row_lang)
        return {"text": text, "text_pair": text_pair, "label": label, **choice(OPTIONS[row_lang], label)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=(0, 1))
