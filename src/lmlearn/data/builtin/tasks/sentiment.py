"""`builtin:sentiment`: is a review positive or negative? Cluster `sentiment`.

Reviews reuse the corpus' review sentences, without the star rating. Two in five are plain: every
opinion agrees with the label. The other three are mixed: one or two opinions of the opposite
sentiment, then a contrast ("But ...", "하지만 ...") and one or two opinions of the label's, the
reviewer's overall view. So praise words occur in negative reviews and complaints in positive
ones about as often, and no single word decides a mixed review: a model has to learn that what
follows the contrast is the verdict.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Pair, a_an, fill, person_context, won
from lmlearn.data.builtin.reviews import _ADJECTIVES, _ASPECT_TEMPLATES, _ASPECTS, _OPENERS, _OPINIONS, _VERDICTS
from lmlearn.data.builtin.tasks.common import choice, side, task_rows
from lmlearn.data.builtin.world import Entity, World, make_world

NAME, CLUSTER = "sentiment", "sentiment"
OPTIONS = {"en": ["negative", "positive"], "ko": ["부정", "긍정"]}
MIXED = 0.6
_CONTRASTS = [("But", "하지만"), ("However,", "그렇지만"), ("Even so,", "그런데")]


def _context(rng: random.Random, world: World) -> dict[str, object]:
    """What a review can mention: its writer, a film, a restaurant and a shop item of the world."""
    ctx = person_context(rng.choice(world.people))
    film, item, restaurant = rng.choice(world.films), rng.choice(world.items), rng.choice(world.restaurants)
    ctx.update(film=Entity(f'"{film.en}"', f'"{film.ko}"'), rest=Entity(restaurant.en, restaurant.ko),
               rcity=restaurant.city, dish=restaurant.food, item=item, a_item=Entity(a_an(item.en), item.ko),
               price=won(item.price))
    return ctx


def _opinions(rng: random.Random, ctx: dict, kind: str, label: int, aspect: tuple[str, str], k: int) -> list[Pair]:
    """`k` opinions of one sentiment: sentences from the review genre, one of them maybe about `aspect`."""
    pool = [rng.choice(_ASPECT_TEMPLATES[label]), *_OPINIONS[kind, label]]
    picked = rng.sample(pool, k)
    fields = {**ctx, "aspect": Entity(*aspect), "adj": Entity(*rng.choice(_ADJECTIVES[label]))}
    return [fill(t, fields) for t in picked]


def _contrast(pair: Pair, rng: random.Random) -> Pair:
    """The sentence opened by a contrast word: "But the staff were ...", "하지만 직원들이 ..."."""
    en_word, ko_word = rng.choice(_CONTRASTS)
    en = pair[0] if pair[0].startswith("I ") else pair[0][0].lower() + pair[0][1:]
    return f"{en_word} {en}", f"{ko_word} {pair[1]}"


def _review(rng: random.Random, world: World, label: int) -> list[Pair]:
    """An opener, maybe opinions of the other sentiment and a contrast, then the label's opinions."""
    kind = rng.choice(list(_OPENERS))
    ctx = _context(rng, world)
    # Two different aspects, so a mixed review never praises and blames the same one.
    mine, theirs = rng.sample(_ASPECTS[kind], 2)
    verdict = _opinions(rng, ctx, kind, label, mine, rng.randint(1, 2))
    if rng.random() < 0.3:
        verdict.append(fill(rng.choice(_VERDICTS[label]), ctx))
    opener = fill(rng.choice(_OPENERS[kind]), ctx)
    if rng.random() >= MIXED:
        return [opener, *verdict]
    other = _opinions(rng, ctx, kind, 1 - label, theirs, rng.randint(1, 2))
    return [opener, *other, _contrast(verdict[0], rng), *verdict[1:]]


@register_builtin(NAME)
def sentiment(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Reviews {text, label (1 positive, 0 negative)}, half of each, most of them mixed."""
    facts = make_world(world)

    def make(rng: random.Random, label: int, row_lang: str) -> dict:
        text = " ".join(side(pair, row_lang) for pair in _review(rng, facts, label))
        return {"text": text, "label": label, **choice(OPTIONS[row_lang], label)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=(0, 1))
