"""Arithmetic and counting statements that are always correct.

Every statement carries all of its numbers in one sentence (operands first, result last or
derivable), so a model sees whole equations in words, and a test can parse each sentence back
and check the sum. Ages come from the world, so comparing two people's ages is also a fact.
"""

import random

from lmlearn.data.builtin.phrasing import Draft, Pair, count, fill, person_context
from lmlearn.data.builtin.world import Entity, World

_LEAD_INS = [
    ("{name} is practicing arithmetic.", "{name:은} 산수 연습을 하고 있다."),
    ("{name} likes solving number problems.", "{name:은} 숫자 문제 푸는 것을 좋아한다."),
    ("Here are a few simple sums.", "다음은 간단한 계산이다."),
    ("{name} checks {his} homework carefully.", "{name:은} 숙제를 꼼꼼히 확인한다."),
]

_ADD = [
    ("{name} has {a_n} and buys {b} more, so {he} now has {c_n}.",
     "{name:은} {obj} {a_n:을} 가지고 있었는데 {b_n:을} 더 사서 이제 {c_n:을} 가지고 있다."),
    ("{name} got {a_n} from {friend} and {b} more from a neighbor, so {he} has {c_n} altogether.",
     "{name:은} {friend}에게서 {obj} {a_n:을}, 이웃에게서 {b_n:을} 더 받아서 모두 {c_n:을} 가지고 있다."),
    ("There are {a_n} on the table and {name} puts down {b} more, making {c_n}.",
     "탁자 위에 {obj:이} {a_n} 있는데 {name:이} {b_n:을} 더 올려놓아서 {c_n:이} 되었다."),
]
_SUBTRACT = [
    ("{name} had {a_n} and gave {b} to {friend}, so {he} has {c} left.",
     "{name:은} {obj} {a_n} 중에서 {b_n:을} {friend}에게 주어서 {c_n:이} 남았다."),
    ("Of the {a_n} in the box, {name} takes {b} and leaves {c}.",
     "상자 안의 {obj} {a_n} 중에서 {name:이} {b_n:을} 꺼내서 {c_n:이} 남았다."),
    ("{name} had {a_n}, lost {b}, and now has {c_n}.",
     "{name:은} {obj} {a_n:을} 가지고 있었는데 {b_n:을} 잃어버려서 이제 {c_n:이} 남았다."),
]
_MULTIPLY = [
    ("There are {a} boxes with {b_n} in each box, so there are {c_n} in total.",
     "상자 {a}개에 {obj:이} {b_n}씩 들어 있으니 {obj:은} 모두 {c_n:이다}."),
    ("{name} buys {a} bags with {b_n} in each, which makes {c_n}.",
     "{name:은} {obj:이} {b_n}씩 든 봉지를 {a}개 사서 모두 {c_n:이} 되었다."),
    ("{a} friends each bring {b_n}, so together they bring {c_n}.",
     "친구 {a}명이 {obj:을} {b_n}씩 가져와서 모두 {c_n:이} 되었다."),
]
_DIVIDE = [
    ("{name} shares {a_n} equally among {b} friends, so each friend gets {c}.",
     "{name:은} {obj} {a_n:을} 친구 {b}명에게 똑같이 나누어 주어서 한 명이 {c_n}씩 받는다."),
    ("{a_n} are packed into {b} boxes, {c} in each box.", "{obj} {a_n:을} 상자 {b}개에 {c_n}씩 나누어 담는다."),
]
_EQUATIONS = {
    "+": [("{a} plus {b} equals {c}.", "{a} 더하기 {b:는} {c:이다}."),
          ("If you add {a} and {b}, you get {c}.", "{a:과} {b:을} 더하면 {c:이} 된다.")],
    "-": [("{a} minus {b} equals {c}.", "{a} 빼기 {b:는} {c:이다}."),
          ("Taking {b} away from {a} leaves {c}.", "{a}에서 {b:을} 빼면 {c:이} 남는다.")],
    "*": [("{a} times {b} equals {c}.", "{a} 곱하기 {b:는} {c:이다}."),
          ("{a} groups of {b} make {c}.", "{b}씩 {a}묶음은 {c:이다}.")],
    "/": [("{a} divided by {b} equals {c}.", "{a} 나누기 {b:는} {c:이다}."),
          ("Splitting {a} into {b} equal parts gives {c} each.", "{a:을} {b}등분하면 하나에 {c:이다}.")],
}
_AGES = [
    ("{name} is {age} years old and {name2} is {age2}, so {name} is {d} older.",
     "{name:은} {age}살이고 {name2:은} {age2}살이니 {name:이} {d} 더 많다."),
    ("{name2}, who is {age2}, is {d} younger than {name}, who is {age}.",
     "{age2}살인 {name2:은} {age}살인 {name}보다 {d} 어리다."),
]
_ANIMALS = [
    ("In the park there are {a_n}, {b_n} and {c_n}: {t} animals altogether.",
     "공원에 {k1} {a_n}, {k2} {b_n}, {k3} {c_n:이} 있으니 모두 {t}마리다."),
    ("At the pet shop, {name} counts {a_n}, {b_n} and {c_n}, {t} animals in all.",
     "{name:은} 애완동물 가게에서 {k1} {a_n}, {k2} {b_n}, {k3} {c_n}, 모두 {t}마리를 세었다."),
]


def _objects(rng: random.Random, world: World, ctx: dict, templates: list[Pair], a: int, b: int, c: int) -> Pair:
    """A statement about a, b and c of one kind of object."""
    obj = rng.choice(world.objects)
    numbers = {"obj": obj, "a": a, "b": b, "c": c, "a_n": count(a, obj), "b_n": count(b, obj), "c_n": count(c, obj)}
    return fill(rng.choice(templates), {**ctx, **numbers})


def _add(rng: random.Random, world: World, ctx: dict) -> Pair:
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    return _objects(rng, world, ctx, _ADD, a, b, a + b)


def _subtract(rng: random.Random, world: World, ctx: dict) -> Pair:
    a = rng.randint(3, 15)
    b = rng.randint(1, a - 1)
    return _objects(rng, world, ctx, _SUBTRACT, a, b, a - b)


def _multiply(rng: random.Random, world: World, ctx: dict) -> Pair:
    a, b = rng.randint(2, 6), rng.randint(2, 9)
    return _objects(rng, world, ctx, _MULTIPLY, a, b, a * b)


def _divide(rng: random.Random, world: World, ctx: dict) -> Pair:
    b, c = rng.randint(2, 5), rng.randint(2, 6)
    return _objects(rng, world, ctx, _DIVIDE, b * c, b, c)


def _equation(rng: random.Random, world: World, ctx: dict) -> Pair:
    op = rng.choice(list(_EQUATIONS))
    if op == "+":
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        c = a + b
    elif op == "-":
        a = rng.randint(2, 60)
        b = rng.randint(1, a - 1)
        c = a - b
    elif op == "*":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        c = a * b
    else:
        b, c = rng.randint(2, 9), rng.randint(2, 12)
        a = b * c
    return fill(rng.choice(_EQUATIONS[op]), {"a": a, "b": b, "c": c})


def _ages(rng: random.Random, world: World, ctx: dict) -> Pair:
    # Two people of the world with different ages; the first named is the older.
    while True:
        older, younger = sorted(rng.sample(world.people, 2), key=lambda p: -p.age)
        if older.age != younger.age:
            break
    d = older.age - younger.age
    fields = {**person_context(older), **person_context(younger, "2"), "d": Entity(f"{d} year{'s' * (d > 1)}", f"{d}살")}
    return fill(rng.choice(_AGES), fields)


def _animals(rng: random.Random, world: World, ctx: dict) -> Pair:
    kinds = rng.sample(world.animals, 3)
    numbers = [rng.randint(2, 9) for _ in kinds]
    fields = {f"k{i + 1}": kind for i, kind in enumerate(kinds)}
    fields.update({f"{key}_n": count(n, kind) for key, n, kind in zip("abc", numbers, kinds)})
    return fill(rng.choice(_ANIMALS), {**ctx, **fields, "t": sum(numbers)})


_STATEMENTS = [_add, _subtract, _multiply, _divide, _equation, _ages, _animals]


def arithmetic(rng: random.Random, world: World) -> Draft:
    """Three to five correct statements, usually after a lead-in about someone doing sums."""
    ctx = person_context(rng.choice(world.people))
    pairs = [fill(rng.choice(_LEAD_INS), ctx)] if rng.random() < 0.7 else []
    pairs += [make(rng, world, ctx) for make in rng.choices(_STATEMENTS, k=rng.randint(3, 5))]
    return Draft(pairs)
