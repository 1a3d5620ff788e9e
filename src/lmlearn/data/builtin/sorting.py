"""Sorting exercises: review sentences sorted into two groups whose names change every document.

This is the corpus' bursty genre. Each document names two groups with words drawn at random
from the world (a colour, a city, a food, ...), then lists six to ten opinions from the review
genre, each followed by the group it belongs to: one group holds the praise, the other the
complaints, and which is which is drawn again for every document. So the first answers of a
document cannot be known from the weights; later ones can, but only from the document itself
(an earlier sentence of the same sentiment and the group it went to). Chan et al. (2022) show
that this kind of structure, items that recur within a context with labels that vary across
contexts, is what makes in-context learning emerge in small transformers; natural text has it
thinly (lists, tables, glossaries), a corpus this small needs it concentrated.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Draft, Pair, fill, person_context, won
from lmlearn.data.builtin.reviews import _ADJECTIVES, _ASPECT_TEMPLATES, _ASPECTS, _OPINIONS
from lmlearn.data.builtin.tasks.common import deal, side
from lmlearn.data.builtin.world import Entity, World, make_world

_HEADERS = [("Sort each sentence into {a} or {b}.", "각 문장을 {a} 또는 {b:으로} 나누세요."),
            ("Two groups: {a} and {b}.", "두 그룹: {a}, {b}.")]
ARROW = "→"


def _names(world: World) -> list[Entity]:
    """Words a group can be named by: the world's everyday nouns, in both languages."""
    return [*world.colours, *world.animals, *world.foods, *world.cities, *world.hobbies, *world.objects]


def opinion(rng: random.Random, world: World, label: int) -> Pair:
    """One review sentence of the given sentiment (1 praise, 0 complaint), any kind of review."""
    kind = rng.choice(list(_ASPECTS))
    restaurant, item = rng.choice(world.restaurants), rng.choice(world.items)
    ctx = {**person_context(rng.choice(world.people)), "dish": restaurant.food, "item": item,
           "price": won(item.price), "aspect": Entity(*rng.choice(_ASPECTS[kind])),
           "adj": Entity(*rng.choice(_ADJECTIVES[label]))}
    return fill(rng.choice([*_ASPECT_TEMPLATES[label], *_OPINIONS[kind, label]]), ctx)


def sorting(rng: random.Random, world: World) -> Draft:
    """A header naming two groups, then 'sentence → group' lines, both sentiments present."""
    praise, complaint = rng.sample(_names(world), 2)
    group = {1: praise, 0: complaint}
    header = fill(rng.choice(_HEADERS), {"a": praise, "b": complaint} if rng.random() < 0.5
                  else {"a": complaint, "b": praise})
    labels = [0, 1] + [rng.randint(0, 1) for _ in range(rng.randint(4, 8))]
    rng.shuffle(labels)
    lines = []
    for label in labels:
        en, ko = opinion(rng, world, label)
        lines.append((f"{en} {ARROW} {group[label].en}", f"{ko} {ARROW} {group[label].ko}"))
    return Draft([header, *lines])


@register_builtin("opinions")
def opinions(n: int = 400, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Single review sentences {text, label (1 praise, 0 complaint), lang}, labels and languages dealt evenly."""
    rng, facts = random.Random(seed), make_world(world)
    return [{"text": side(opinion(rng, facts, label), row_lang), "label": label, "lang": row_lang}
            for label, row_lang in deal("opinions", n, lang, (0, 1), rng)]
