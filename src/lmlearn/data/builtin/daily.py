"""Weather and daily life: one day of someone in the world, from waking up to going to bed.

The day re-uses the person's facts (their city's weather, their job, pet, favourite food and
hobby), so the same facts appear in a second, narrative register besides the biographies.
"""

import random
from typing import NamedTuple

from lmlearn.data.builtin.phrasing import Draft, Pair, fill, person_context
from lmlearn.data.builtin.world import World


class _Weather(NamedTuple):
    opening: Pair
    temperatures: tuple[int, int]  # degrees Celsius, lowest and highest
    follow_ups: list[Pair]  # what a person does about this weather


_WEATHER = [
    _Weather(("It is sunny and warm in {city} today.", "오늘 {city:은} 맑고 따뜻하다."), (18, 30), [
        ("Because the weather is nice, {he} walks to work.", "날씨가 좋아서 {he:는} 걸어서 출근한다."),
        ("{he} puts on a hat to keep the sun off.", "{he:는} 햇볕을 가리려고 모자를 쓴다."),
    ]),
    _Weather(("It is a clear, cool morning in {city}.", "{city}의 아침은 맑고 선선하다."), (8, 17), [
        ("{he} opens the window and enjoys the fresh air.", "{he:는} 창문을 열고 상쾌한 공기를 즐긴다."),
    ]),
    _Weather(("It is raining in {city} this morning.", "오늘 아침 {city}에는 비가 내린다."), (10, 22), [
        ("{he} takes an umbrella before leaving home.", "{he:는} 집을 나서기 전에 우산을 챙긴다."),
        ("{he} waits for the bus in the rain.", "{he:는} 빗속에서 버스를 기다린다."),
    ]),
    _Weather(("The sky over {city} is grey and cloudy.", "{city}의 하늘이 흐리다."), (5, 20), [
        ("{he} wonders whether it will rain later.", "{he:는} 나중에 비가 올지 궁금해한다."),
    ]),
    _Weather(("Snow is falling in {city}.", "{city}에 눈이 내린다."), (-8, -1), [
        ("{he} wears a thick coat and warm gloves.", "{he:는} 두꺼운 외투와 따뜻한 장갑을 착용한다."),
        ("The streets are white, so {he} walks carefully.", "길이 하얗게 덮여서 {he:는} 조심해서 걷는다."),
    ]),
    _Weather(("A strong wind is blowing in {city} today.", "오늘 {city}에는 바람이 세게 분다."), (5, 18), [
        ("{he} stays inside and makes a cup of tea.", "{he:는} 밖에 나가지 않고 차를 한 잔 끓인다."),
    ]),
]

_ABOVE_ZERO = ("The temperature is {t} degrees.", "기온은 {t_deg:이다}.")
_BELOW_ZERO = ("It is {t} degrees below zero.", "기온은 영하 {t_deg:이다}.")

# The parts of the day, in order; a document keeps some of them and never reorders them.
_DAY = [
    [("{name} wakes up at {wake} o'clock.", "{name:은} 아침 {wake}시에 일어난다."),
     ("{name} gets up early, at {wake} o'clock.", "{name:은} {wake}시에 일찍 일어난다.")],
    [("{he} feeds {his} {colour_mod} {pet}.", "{he:는} {colour_mod} {pet}에게 먹이를 준다."),
     ("{his} {pet} is waiting for breakfast.", "{his} {pet:이} 아침밥을 기다리고 있다.")],
    None,  # the weather's follow-up goes here
    [("At work, {he} is busy all day as {a_job}.", "{he:는} {job:으로}서 하루 종일 바쁘게 일한다."),
     ("{he} spends the day working as {a_job}.", "{he:는} 낮 동안 {job:으로} 일한다.")],
    [("For lunch, {he} eats {food}.", "점심으로 {he:는} {food:을} 먹는다."),
     ("At noon, {name} has {food} with {friend}.", "정오에 {name:은} {friend:과} 함께 {food:을} 먹는다.")],
    [("After work, {he} spends an hour on {his} hobby, {hobby}.", "퇴근 후에 {he:는} 한 시간 동안 취미인 {hobby:을} 즐긴다."),
     ("In the evening, {he} calls {friend} and they talk for a while.", "저녁에 {he:는} {friend}에게 전화를 걸어 한참 이야기를 나눈다.")],
    [("{he} goes to bed at {sleep} o'clock.", "{he:는} 밤 {sleep}시에 잠자리에 든다."),
     ("It has been a good day, and {name} falls asleep quickly.", "좋은 하루였고, {name:은} 금방 잠이 든다.")],
]


def daily(rng: random.Random, world: World) -> Draft:
    """The weather in the person's city, maybe the temperature, then a few parts of their day."""
    ctx = person_context(rng.choice(world.people))
    weather = rng.choice(_WEATHER)
    t = rng.randint(*weather.temperatures)
    ctx.update(wake=rng.randint(5, 8), sleep=rng.randint(9, 11), t=abs(t), t_deg=f"{abs(t)}도")
    pairs = [fill(weather.opening, ctx)]
    if rng.random() < 0.5:
        pairs.append(fill(_BELOW_ZERO if t < 0 else _ABOVE_ZERO, ctx))
    parts = [weather.follow_ups if part is None else part for part in _DAY]
    # Waking up names the person, so it always comes first; then two to four more parts, in order.
    kept = [0] + sorted(rng.sample(range(1, len(parts)), rng.randint(2, 4)))
    pairs += [fill(rng.choice(parts[i]), ctx) for i in kept]
    return Draft(pairs)
