"""`builtin:nli`: does a short description of a person entail a claim about them? Cluster `nli`.

The premise states two or three of a person's facts from the world (the name first, then he/she).
The hypothesis names the person and states one attribute: for entailment, a fact of the premise
in another phrasing; for contradiction, an attribute of the premise with another value; for
neutral, an attribute the premise does not mention, with the true value half of the time and
another value otherwise. Hypotheses of all three labels come from the same phrasings, so only
comparing the two texts tells them apart; world knowledge alone cannot tell neutral from the rest.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.tasks import facts
from lmlearn.data.builtin.tasks.common import choice, side, task_rows
from lmlearn.data.builtin.world import World, make_world

NAME, CLUSTER = "nli", "nli"
LABELS = ("entailment", "neutral", "contradiction")
OPTIONS = {"en": ["yes", "it is not possible to tell", "no"], "ko": ["예", "알 수 없음", "아니요"]}


def _pair(rng: random.Random, world: World, label: str, lang: str) -> tuple[str, str]:
    person = rng.choice(world.people)
    stated = rng.sample(facts.ATTRIBUTES, rng.randint(2, 3))
    premise, phrasings = facts.describe(rng, person, stated)
    if label == "neutral":
        attribute = rng.choice([a for a in facts.ATTRIBUTES if a not in stated])
        true = rng.random() < 0.5
        fact = facts.value(person, attribute) if true else rng.choice(facts.other_values(world, person, attribute))
    else:
        attribute = rng.choice(stated)
        fact = (facts.value(person, attribute) if label == "entailment"
                else rng.choice(facts.other_values(world, person, attribute)))
    # A phrasing other than the premise's: an entailed hypothesis is never a copied sentence.
    ctx = facts.context(person, **{attribute: fact})
    hypothesis, _ = facts.state(rng, ctx, attribute, avoid=phrasings.get(attribute, -1))
    return " ".join(side(sentence, lang) for sentence in premise), side(hypothesis, lang)


@register_builtin(NAME)
def nli(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Pairs {premise, hypothesis, label (entailment, neutral, contradiction)}, a third of each."""
    world_facts = make_world(world)

    def make(rng: random.Random, label: str, row_lang: str) -> dict:
        premise, hypothesis = _pair(rng, world_facts, label, row_lang)
        return {"premise": premise, "hypothesis": hypothesis, "label": label,
                **choice(OPTIONS[row_lang], LABELS.index(label))}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=LABELS)
