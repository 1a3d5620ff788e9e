"""`builtin:closed_qa`: questions about the fact world, answered from memory. Cluster `closed_qa`.

Nothing in the row states the answer: a model knows it only if it learned the world, for
example from `builtin:corpus` with the same `world`, which states every one of these facts.
Seven of ten questions ask about a person (age, city, job, favourite food, hobby, pet, best
friend), the rest about a shop item's price or a restaurant's city or dish. `subject` and
`relation` say which fact is asked, for per-relation scores.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Pair, a_an, fill, won
from lmlearn.data.builtin.tasks import facts
from lmlearn.data.builtin.tasks.common import side, task_rows
from lmlearn.data.builtin.world import Entity, World, make_world

NAME, CLUSTER = "closed_qa", "closed_qa"
RELATIONS = (*facts.ATTRIBUTES, "price", "restaurant_city", "restaurant_food")

_OTHER_QUESTIONS: dict[str, list[Pair]] = {
    "price": [("How much does {a_item} cost?", "{item:은} 얼마예요?"),
              ("What is the price of {a_item}?", "{item} 하나의 가격은 얼마예요?")],
    "restaurant_city": [("In which city is {rest}?", "{rest:은} 어느 도시에 있어요?"),
                        ("Where is the restaurant {rest}?", "식당 {rest:은} 어디에 있어요?")],
    "restaurant_food": [("What dish is {rest} known for?", "{rest:은} 어떤 음식으로 유명해요?"),
                        ("Which food is {rest} famous for?", "{rest:은} 무슨 음식으로 유명해요?")],
}


def _question(rng: random.Random, world: World, relation: str) -> tuple[str, Pair, Pair]:
    """The subject's English name, the question and the answer, each as an (English, Korean) pair."""
    if relation in facts.ATTRIBUTES:
        person = rng.choice(world.people)
        fact = facts.value(person, relation)
        return person.name.en, facts.ask(rng, person, relation), (facts.answer(relation, fact, "en"),
                                                                 facts.answer(relation, fact, "ko"))
    if relation == "price":
        item = rng.choice(world.items)
        question = fill(rng.choice(_OTHER_QUESTIONS[relation]), {"item": item, "a_item": Entity(a_an(item.en), item.ko)})
        return item.en, question, (f"{won(item.price)} won", f"{won(item.price)}원")
    restaurant = rng.choice(world.restaurants)
    answer = restaurant.city if relation == "restaurant_city" else restaurant.food
    return restaurant.en, fill(rng.choice(_OTHER_QUESTIONS[relation]), {"rest": restaurant}), (answer.en, answer.ko)


@register_builtin(NAME)
def closed_qa(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Questions {source, target, subject, relation} about the world; the relations are dealt evenly."""
    world_facts = make_world(world)

    def make(rng: random.Random, relation: str, row_lang: str) -> dict:
        subject, question, answer = _question(rng, world_facts, relation)
        return {"source": side(question, row_lang), "target": side(answer, row_lang), "subject": subject,
                "relation": relation, "answer": side(answer, row_lang)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=RELATIONS)
