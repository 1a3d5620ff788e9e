"""`builtin:ner`: word-level named entities, BIO-tagged. Cluster `ner`.

Entity types: PER (people of the world), LOC (cities), ORG (restaurants) and FOOD (dishes);
jobs, hobbies and pets are left untagged, as words a model must learn not to tag. Sentences
state true facts of the world. Tokens are English words, with punctuation and the possessive
's split off as in CoNLL, and Korean eojeol (the space-separated units) with punctuation split
off. Korean particles stay attached, so the whole eojeol carries the tag: "민준은" is B-PER,
and in "황금 숟가락에서" "황금" is B-ORG and "숟가락에서" I-ORG.
"""

import random
import re

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Pair, fill, person_context
from lmlearn.data.builtin.tasks.common import side, task_rows
from lmlearn.data.builtin.world import make_world

NAME, CLUSTER = "ner", "ner"
TYPES = {"name": "PER", "friend": "PER", "city": "LOC", "city2": "LOC", "rcity": "LOC", "rest": "ORG",
         "food": "FOOD", "dish": "FOOD"}
_TOKEN = re.compile(r"'s\b|\w+|[^\w\s]")

_TEMPLATES: list[Pair] = [
    ("{name} lives in {city} and loves {food}.", "{name:은} {city}에 살고 {food:을} 좋아한다."),
    ("{name} had {dish} with {friend} at {rest} in {rcity}.", "{name:은} {rcity}의 {rest}에서 {friend:과} 함께 {dish:을} 먹었다."),
    ("{rest} in {rcity} is famous for its {dish}.", "{rcity}에 있는 {rest:은} {dish:으로} 유명하다."),
    ("{friend} visited {name} in {city} last weekend.", "{friend:은} 지난 주말에 {city}에 사는 {name:을} 찾아갔다."),
    ("{name} works as {a_job} in {city}.", "{name:은} {city}에서 {job:으로} 일한다."),
    ("{name} and {friend} went to {rest} to eat {dish}.", "{name:과} {friend:은} {dish:을} 먹으러 {rest}에 갔다."),
    ("{name} took a train from {city} to {city2}.", "{name:은} {city}에서 {city2}까지 기차를 탔다."),
    ("Every Sunday, {name} cooks {food} for {friend}.", "{name:은} 일요일마다 {friend}에게 {food:을} 만들어 준다."),
    ("{name} enjoys {hobby} and has {a_colour} {pet}.", "{name:은} {hobby:을} 즐기고 {colour_mod} {pet:을} 키운다."),
    ("{name}'s favorite restaurant is {rest}.", "{name:이} 가장 좋아하는 식당은 {rest:이다}."),
]


def tokenize(sentence: str) -> list[str]:
    """Words (or Korean eojeol), the possessive 's and punctuation marks, in order."""
    return _TOKEN.findall(sentence)


def _tag(tokens: list[str], entities: list[tuple[str, str]], lang: str) -> list[str]:
    """BIO tags for `tokens`, given the surfaces and types of the entities written into them."""
    tags = ["O"] * len(tokens)
    for surface, kind in entities:
        words = tokenize(surface)
        for i in range(len(tokens) - len(words) + 1):
            window = tokens[i:i + len(words)]
            # A Korean particle may follow the entity's last word inside the same eojeol.
            last_ok = window[-1] == words[-1] or (lang == "ko" and window[-1].startswith(words[-1]))
            if window[:-1] == words[:-1] and last_ok and set(tags[i:i + len(words)]) == {"O"}:
                tags[i:i + len(words)] = [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
                break
        else:
            raise AssertionError(f"entity {surface!r} not found in {tokens}")
    return tags


@register_builtin(NAME)
def ner(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Sentences {tokens, tags} with PER, LOC, ORG and FOOD entities in BIO tags."""
    facts = make_world(world)

    def make(rng: random.Random, _: None, row_lang: str) -> dict:
        person, restaurant = rng.choice(facts.people), rng.choice(facts.restaurants)
        ctx = {**person_context(person), "rest": restaurant, "rcity": restaurant.city, "dish": restaurant.food,
               "city2": rng.choice([c for c in facts.cities if c != person.city])}
        template = rng.choice(_TEMPLATES)
        tokens = tokenize(side(fill(template, ctx), row_lang))
        # The entities in the order this language's template writes them.
        fields = [f for f in re.findall(r"{(\w+)", side(template, row_lang)) if f in TYPES]
        entities = [(getattr(ctx[f], row_lang), TYPES[f]) for f in fields]
        tags = _tag(tokens, entities, row_lang)
        answer = ", ".join(f"{surface} [{kind}]" for surface, kind in entities)
        return {"tokens": tokens, "tags": tags, "answer": answer}

    return task_rows(NAME, CLUSTER, n, seed, lang, make)
