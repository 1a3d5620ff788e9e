"""`builtin:math`: word problems and expressions with a whole-number answer. Cluster `arithmetic`.

(Registered as `math`: the corpus already has an `arithmetic` genre of true statements; these
are the questions.) Seven kinds, equally likely: adding, taking away, equal groups and fair
shares of the world's countable objects, bare expressions, shop bills at the world's prices and
age gaps between people of the world. Each source holds exactly the two numbers the answer is
computed from; `target` is the answer in digits, without separators.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.phrasing import Pair, a_an, count, fill, person_context, won
from lmlearn.data.builtin.tasks.common import side, task_rows
from lmlearn.data.builtin.world import Entity, World, make_world

NAME, CLUSTER = "math", "arithmetic"
KINDS = ("add", "subtract", "multiply", "divide", "expression", "price", "age")

_PROBLEMS: dict[str, Pair] = {
    "add": ("{name} has {a_n}. Then {he} buys {b} more. How many {plural} does {he} have now?",
            "{name:은} {obj} {a_n:을} 가지고 있어요. {b_n:을} 더 샀어요. {name:은} 이제 {obj:을} 몇 {counter} 가지고 있을까요?"),
    "subtract": ("{name} had {a_n} and gave {b} to {friend}. How many {plural} does {he} have left?",
                 "{name:은} {obj} {a_n:을} 가지고 있었는데 {friend}에게 {b_n:을} 줬어요. 남은 {obj:은} 몇 {counter}일까요?"),
    "multiply": ("There are {a} boxes with {b_n} in each box. How many {plural} are there in total?",
                 "상자 {a}개에 {obj:이} {b_n}씩 들어 있어요. {obj:은} 모두 몇 {counter}일까요?"),
    "divide": ("{name} shares {a_n} equally among {b} friends. How many {plural} does each friend get?",
               "{name:은} {obj} {a_n:을} 친구 {b}명에게 똑같이 나누어 줬어요. 한 명이 몇 {counter}씩 받을까요?"),
    "price": ("{a_item} costs {p} won. How many won do {q_n} cost?",
              "{obj} 하나는 {p}원이에요. {obj} {q_n:은} 모두 얼마예요?"),
    "age": ("{name} is {age} years old and {name2} is {age2}. How many years older is {name} than {name2}?",
            "{name:은} {age}살이고 {name2:은} {age2}살이에요. {name:은} {name2}보다 몇 살 더 많을까요?"),
}
_OPERATIONS = {"add": "+", "subtract": "-", "multiply": "×", "divide": "÷"}
_WORDS = {"+": Entity("plus", "더하기"), "-": Entity("minus", "빼기"), "×": Entity("times", "곱하기"),
          "÷": Entity("divided by", "나누기")}
_EXPRESSIONS = [("What is {a} {word} {b}?", "{a} {word} {b:은} 얼마예요?"),
                ("Calculate {a} {op} {b}.", "{a} {op} {b:을} 계산하세요.")]


def _operands(rng: random.Random, op: str) -> tuple[int, int, int]:
    """Two operands and the result, small enough for a child's worksheet; division comes out even."""
    if op == "+":
        a, b = rng.randint(2, 50), rng.randint(1, 50)
        return a, b, a + b
    if op == "-":
        a = rng.randint(3, 60)
        b = rng.randint(1, a - 1)
        return a, b, a - b
    if op == "×":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        return a, b, a * b
    b, c = rng.randint(2, 9), rng.randint(2, 12)
    return b * c, b, c


def _problem(rng: random.Random, world: World, kind: str) -> tuple[Pair, int]:
    """A problem of the kind, as an (English, Korean) pair, and its answer."""
    person = rng.choice(world.people)
    ctx = person_context(person)
    if kind == "expression":
        op = rng.choice(list(_WORDS))
        a, b, result = _operands(rng, op)
        return fill(rng.choice(_EXPRESSIONS), {"a": a, "b": b, "op": op, "word": _WORDS[op]}), result
    if kind == "age":
        other = rng.choice([p for p in world.people if p.age != person.age])
        older, younger = sorted((person, other), key=lambda p: p.age, reverse=True)
        return fill(_PROBLEMS[kind], {**person_context(older), **person_context(younger, "2")}), older.age - younger.age
    if kind == "price":
        item, q = rng.choice(world.items), rng.randint(2, 9)
        fields = {"obj": item, "a_item": Entity(a_an(item.en), item.ko), "p": won(item.price), "q_n": count(q, item)}
        return fill(_PROBLEMS[kind], {**ctx, **fields}), q * item.price
    obj = rng.choice(world.objects)
    a, b, result = _operands(rng, _OPERATIONS[kind])
    fields = {"obj": obj, "a": a, "b": b, "a_n": count(a, obj), "b_n": count(b, obj), "plural": obj.en_plural,
              "counter": obj.counter}
    return fill(_PROBLEMS[kind], {**ctx, **fields}), result


@register_builtin(NAME)
def math(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Problems {source, target (the answer in digits)}; the kinds are dealt evenly."""
    facts = make_world(world)

    def make(rng: random.Random, kind: str, row_lang: str) -> dict:
        problem, result = _problem(rng, facts, kind)
        return {"source": side(problem, row_lang), "target": str(result), "answer": str(result)}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, labels=KINDS)
