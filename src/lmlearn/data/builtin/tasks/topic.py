"""`builtin:topic`: what is a short text about? Cluster `topic`.

Six topics, each written from three templates about a person of the world and their true facts
(favourite food, job, hobby, pet, city; the world's restaurants and prices). A text is one or two
sentences of one topic. Every topic names a person and often a city, so neither gives the topic away.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Pair, a_an, fill, person_context, won
from lmlearn.data.builtin.tasks.common import choice, side, task_rows
from lmlearn.data.builtin.world import Entity, World, make_world

NAME, CLUSTER = "topic", "topic"
TOPICS = ("food", "travel", "work", "hobby", "pets", "shopping")
OPTIONS = {"en": list(TOPICS), "ko": ["음식", "여행", "일", "취미", "반려동물", "쇼핑"]}

_TEMPLATES: dict[str, list[Pair]] = {
    "food": [
        ("{name} cooked {food} for dinner and invited {friend}.", "{name:은} 저녁으로 {food:을} 요리해서 {friend:을} 초대했다."),
        ("At {rest} in {rcity}, {name} ordered the {dish} and ate every bite.",
         "{name:은} {rcity}의 {rest}에서 {dish:을} 주문해서 남김없이 먹었다."),
        ("{name} is learning a new recipe for {food} from a cookbook.", "{name:은} 요리책을 보고 {food} 만드는 법을 새로 배우고 있다."),
    ],
    "travel": [
        ("{name} took a train from {city} to {city2} for a short holiday.",
         "{name:은} 짧은 휴가를 보내려고 {city}에서 {city2}까지 기차를 탔다."),
        ("Next month {name} will fly to {city2} to see the famous sights.", "{name:은} 다음 달에 명소를 구경하러 비행기를 타고 {city2}에 간다."),
        ("{name} packed a suitcase and booked a hotel in {city2} for a week.",
         "{name:은} 여행 가방을 싸고 {city2}에 있는 호텔을 일주일 동안 예약했다."),
    ],
    "work": [
        ("{name} has worked as {a_job} in {city} for {years} years.", "{name:은} {city}에서 {years}년 동안 {job:으로} 일했다."),
        ("As {a_job}, {name} starts work at eight and often stays late.", "{job}인 {name:은} 여덟 시에 일을 시작하고 자주 늦게까지 일한다."),
        ("{name} asked {his} boss for a raise after {years} years as {a_job}.",
         "{name:은} {job:으로} {years}년을 일한 뒤 상사에게 월급을 올려 달라고 했다."),
    ],
    "hobby": [
        ("Every Saturday morning, {name} spends a few hours on {hobby}.", "{name:은} 토요일 아침마다 몇 시간씩 {hobby:을} 즐긴다."),
        ("{name} joined a club in {city} for people who love {hobby}.", "{name:은} {city}에서 {hobby:을} 좋아하는 사람들의 동호회에 가입했다."),
        ("For {name}'s birthday, {friend} gave {him} a book about {hobby}.", "{name:은} 생일 선물로 {friend}에게서 {hobby}에 관한 책을 받았다."),
    ],
    "pets": [
        ("{name} took {his} {pet} to the vet in {city} for a check-up.",
         "{name:은} 건강 검진을 받으려고 {pet:을} 데리고 {city}의 동물병원에 갔다."),
        ("{name}'s {colour_mod} {pet} sleeps on the sofa all afternoon.", "{name}의 {colour_mod} {pet:은} 오후 내내 소파에서 잔다."),
        ("Every morning, {name} feeds {his} {pet} and cleans its bed.", "{name:은} 매일 아침 {pet}에게 먹이를 주고 잠자리를 청소한다."),
    ],
    "shopping": [
        ("{name} bought {a_item} for {price} won at a market in {city}.", "{name:은} {city}의 시장에서 {item:을} {price}원에 샀다."),
        ("{name} compared the prices in three shops before buying {a_item}.", "{name:은} {item:을} 사기 전에 가게 세 곳의 가격을 비교했다."),
        ("The {item} {name} wanted was on sale, so {he} bought two.", "{name:이} 사고 싶던 {item:이} 할인 중이어서 {he:는} 두 {counter:을} 샀다."),
    ],
}


def _context(rng: random.Random, world: World) -> dict[str, object]:
    person = rng.choice(world.people)
    ctx = person_context(person)
    item, restaurant = rng.choice(world.items), rng.choice(world.restaurants)
    ctx.update(city2=rng.choice([c for c in world.cities if c != person.city]), years=rng.randint(2, person.age - 18),
               rest=restaurant, rcity=restaurant.city, dish=restaurant.food, item=item,
               a_item=Entity(a_an(item.en), item.ko), price=won(item.price), counter=item.counter)
    return ctx


@register_builtin(NAME)
def topic(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Texts {text, label (food, travel, work, hobby, pets, shopping)}, a sixth of each."""
    facts = make_world(world)

    def make(rng: random.Random, label: str, row_lang: str) -> dict:
        ctx = _context(rng, facts)
        templates = rng.sample(_TEMPLATES[label], rng.randint(1, 2))
        text = " ".join(side(fill(t, ctx), row_lang) for t in templates)
        return {"text": text, "label": label, **choice(OPTIONS[row_lang], TOPICS.index(label))}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=TOPICS)
