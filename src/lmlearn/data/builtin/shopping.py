"""Shopping trips: world prices, line totals, the bill and the change, all correct.

Prices are the world's, so "how much is an umbrella?" has one answer across the corpus; the
sums are spelled out in sentences that a test can parse back, like the arithmetic genre.
"""

import random

from lmlearn.data.builtin.phrasing import Draft, a_an, count, fill, person_context, won
from lmlearn.data.builtin.world import Entity, World

_INTROS = [
    ("{name} goes shopping in {city}.", "{name:은} {city}에서 쇼핑을 한다."),
    ("{name} needs a few things, so {he} visits a shop near {his} home in {city}.",
     "{name:은} 몇 가지 물건이 필요해서 {city}에 있는 집 근처 가게에 간다."),
    ("On Saturday, {name} and {friend} go to a market in {city}.", "토요일에 {name:과} {friend:은} {city}의 시장에 간다."),
]
_LINES = [
    ("{he} buys {q_n} at {p} won each, which comes to {t} won.", "{he:는} {counter}당 {p}원인 {item} {q_n:을} 사서 {t}원을 낸다."),
    ("{q_n} cost {t} won, because one {item} is {p} won.", "{item} 하나가 {p}원이라서 {q_n:은} {t}원이다."),
    ("The price of {a_item} is {p} won, so {q} of them cost {t} won.", "{item} 가격은 {p}원이라서 {q_n:은} {t}원이다."),
]
_SALE = ("{a_item} usually costs {p} won, but today it is {off} won off, so {he} pays {t} won for it.",
         "{item:은} 원래 {p}원인데 오늘은 {off}원 할인해서 {he:는} {t}원을 낸다.")
_TOTALS = [
    ("Together, {amounts} make {total} won.", "{amounts:을} 합치면 {total}원이다."),
    ("{name} adds it up: {plus} = {total} won.", "{name:이} 계산해 보니 {plus} = {total}원이다."),
]
_PAYMENTS = [
    ("{he} pays with {paid} won and gets {change} won back from the {total} won bill.",
     "{he:는} {total}원을 계산하려고 {paid}원을 내고 거스름돈으로 {change}원을 받는다."),
    ("{he} hands over {paid} won for the {total} won bill and gets {change} won in change.",
     "{he:는} {total}원짜리 계산에 {paid}원을 내고 거스름돈 {change}원을 받는다."),
    ("{he} had {budget} won, so after spending {total} won {he} has {left} won left.",
     "{he:는} {budget}원이 있었는데 {total}원을 쓰고 {left}원이 남았다."),
]
_CLOSINGS = [
    ("Then {he} heads home with {his} bags.", "그러고 나서 {he:는} 짐을 들고 집으로 향한다."),
    ("{he} is pleased with the shopping.", "{he:는} 쇼핑에 만족한다."),
]


def shopping(rng: random.Random, world: World) -> Draft:
    """A trip buying two or three kinds of item, then the total and the change."""
    ctx = person_context(rng.choice(world.people))
    pairs = [fill(rng.choice(_INTROS), ctx)]
    totals = []
    items = rng.sample(world.items, rng.randint(2, 3))
    for i, item in enumerate(items):
        fields = {**ctx, "item": item, "a_item": Entity(a_an(item.en), item.ko), "p": won(item.price),
                  "counter": Entity("", item.counter)}
        if i == len(items) - 1 and rng.random() < 0.3:
            # A discount of at most half the price, in 500-won steps, so the sale price stays positive.
            off = 500 * rng.randint(1, item.price // 1000)
            totals.append(item.price - off)
            fields.update(off=won(off), t=won(totals[-1]))
            pairs.append(fill(_SALE, fields))
        else:
            q = rng.randint(2, 4)
            totals.append(q * item.price)
            fields.update(q=q, q_n=count(q, item), t=won(totals[-1]))
            pairs.append(fill(rng.choice(_LINES), fields))
    total = sum(totals)
    amounts = Entity(", ".join(f"{won(t)} won" for t in totals[:-1]) + f" and {won(totals[-1])} won",
                     ", ".join(f"{won(t)}원" for t in totals))
    fields = {**ctx, "amounts": amounts, "plus": " + ".join(won(t) for t in totals), "total": won(total)}
    pairs.append(fill(rng.choice(_TOTALS), fields))
    paid = (total // 10000 + 1) * 10000
    budget = total + 1000 * rng.randint(1, 30)
    fields.update(paid=won(paid), change=won(paid - total), budget=won(budget), left=won(budget - total))
    pairs.append(fill(rng.choice(_PAYMENTS), fields))
    if rng.random() < 0.5:
        pairs.append(fill(rng.choice(_CLOSINGS), ctx))
    return Draft(pairs)
