"""`builtin:similarity`: how much do two short texts agree? Graded, as STS-B and KLUE-STS are (0 to 5),
for `lmlearn finetune --task regress`.

Both texts state the same five facts about one person of the world, each fact in a different phrasing on
the two sides and the facts in another order; the second changes the values of 5 - score of them. The
score is the number of facts the two agree on, so only the details decide it, never the wording.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.tasks import facts
from lmlearn.data.builtin.tasks.common import side, task_rows
from lmlearn.data.builtin.world import World, make_world

NAME, CLUSTER = "similarity", "similarity"
FACTS = 5
SCORES = tuple(range(FACTS + 1))


def _texts(rng: random.Random, world: World, score: int, lang: str) -> list[str]:
    person = rng.choice(world.people)
    attributes = rng.sample([a for a in facts.ATTRIBUTES if a != "friend"], FACTS)
    first, phrasings = facts.describe(rng, person, attributes)
    changed = {a: rng.choice(facts.other_values(world, person, a)) for a in rng.sample(attributes, FACTS - score)}
    rng.shuffle(attributes)
    second, _ = facts.describe(rng, person, attributes, avoid=phrasings, **changed)
    return [" ".join(side(s, lang) for s in sentences) for sentences in (first, second)]


@register_builtin(NAME)
def similarity(n: int = 1200, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Pairs {text, text_pair, label (0-5: how many of five facts the two agree on)}, scores dealt evenly."""
    world_facts = make_world(world)

    def make(rng: random.Random, score: int, row_lang: str) -> dict:
        text, text_pair = _texts(rng, world_facts, score, row_lang)
        return {"text": text, "text_pair": text_pair, "label": float(score)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=SCORES)
