"""Biographies: a paragraph of true facts about one person of the world.

These are what a later closed-book QA task asks about: where someone lives, what they do,
what they like. Each fact has several phrasings so a model learns the fact, not one sentence.
"""

import random

from lmlearn.data.builtin.phrasing import Draft, fill, person_context
from lmlearn.data.builtin.world import World

_INTROS = [
    ("{name} is {age} years old.", "{name:은} {age}살이다."),
    ("This is {name}, who is {age} years old.", "이 사람은 {age}살인 {name:이다}."),
    ("{name} turned {age} this year.", "{name:은} 올해 {age}살이 되었다."),
    ("Our story is about {name}, a {age}-year-old.", "이 이야기는 {age}살인 {name}에 관한 것이다."),
]

_FACTS = {
    "city": [
        ("{he} lives in {city}.", "{he:는} {city}에 산다."),
        ("{name} has lived in {city} for many years.", "{name:은} 여러 해 동안 {city}에서 살았다."),
        ("{his} home is in {city}.", "{his} 집은 {city}에 있다."),
        ("{he} lives in a small apartment in {city}.", "{he:는} {city}의 작은 아파트에 산다."),
    ],
    "job": [
        ("{he} works as {a_job}.", "{he:는} {job:으로} 일한다."),
        ("By profession, {name} is {a_job}.", "{name}의 직업은 {job:이다}."),
        ("{he} has worked as {a_job} for {years} years.", "{he:는} {years}년 동안 {job:으로} 일했다."),
        ("Every weekday, {he} goes to work as {a_job}.", "{he:는} 평일마다 {job:으로} 일하러 간다."),
    ],
    "food": [
        ("{his} favorite food is {food}.", "{he:가} 가장 좋아하는 음식은 {food:이다}."),
        ("{name} loves {food}.", "{name:은} {food:을} 무척 좋아한다."),
        ("{he} eats {food} whenever {he} can.", "{he:는} 기회가 있을 때마다 {food:을} 먹는다."),
    ],
    "pet": [
        ("{he} has {a_colour} {pet}.", "{he:는} {colour_mod} {pet} 한 마리를 키운다."),
        ("{name} keeps {a_colour} {pet} at home.", "{name:은} 집에서 {colour_mod} {pet:을} 키운다."),
        ("{his} pet is {a_colour} {pet}.", "{his} 반려동물은 {colour_mod} {pet:이다}."),
        ("{his} {pet} is {colour}.", "{his} {pet:은} {colour:이다}."),
    ],
    "hobby": [
        ("In {his} free time, {he} enjoys {hobby}.", "{he:는} 여가 시간에 {hobby:을} 즐긴다."),
        ("{his} hobby is {hobby}.", "{his} 취미는 {hobby:이다}."),
        ("{name} has enjoyed {hobby} since childhood.", "{name:은} 어릴 때부터 {hobby:을} 즐겨 왔다."),
    ],
    "friend": [
        ("{his} best friend is {friend}.", "{his} 가장 친한 친구는 {friend:이다}."),
        ("{name} often meets {his} friend {friend} on weekends.", "{name:은} 주말에 친구 {friend:을} 자주 만난다."),
        ("{he} and {friend} have been friends for a long time.", "{he:와} {friend:은} 오랜 친구 사이다."),
    ],
}

_CLOSINGS = [
    ("{name} is happy with {his} life in {city}.", "{name:은} {city}에서의 삶에 만족한다."),
    ("Everyone who knows {name} says {he} is kind.", "{name:을} 아는 사람들은 모두 {he:가} 친절하다고 말한다."),
    ("{name} hopes to stay in {city} for a long time.", "{name:은} 오랫동안 {city}에 살고 싶어 한다."),
]


def biography(rng: random.Random, world: World) -> Draft:
    """An intro with the person's age, three to five other facts in random order, maybe a closing."""
    person = rng.choice(world.people)
    ctx = person_context(person)
    ctx["years"] = rng.randint(2, max(2, person.age - 20))
    topics = rng.sample(list(_FACTS), rng.randint(3, 5))
    pairs = [fill(rng.choice(_INTROS), ctx)]
    pairs += [fill(rng.choice(_FACTS[topic]), ctx) for topic in topics]
    if rng.random() < 0.5:
        pairs.append(fill(rng.choice(_CLOSINGS), ctx))
    return Draft(pairs)
