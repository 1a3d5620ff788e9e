"""Reviews of films, restaurants and products with a clear sentiment and a star rating.

Positive and negative reviews share their openers and differ only in the opinion sentences,
so the sentiment words are what a model must notice; a later sentiment task reuses them.
Ratings are 4-5 for positive reviews and 1-2 for negative ones (no ambiguous 3s).
"""

import random

from lmlearn.data.builtin.phrasing import Draft, a_an, fill, person_context, won
from lmlearn.data.builtin.world import Entity, World

_OPENERS = {
    "film": [
        ("I watched {film} last weekend.", "지난 주말에 {film:을} 봤어요."),
        ("Yesterday I finally saw {film} at a cinema in {city}.", "어제 {city}의 영화관에서 드디어 {film:을} 봤어요."),
        ("My friend {friend} and I went to see {film}.", "친구 {friend:와} 함께 {film:을} 보러 갔어요."),
        ("I had been waiting for months to see {film}.", "{film:을} 보려고 몇 달을 기다렸어요."),
    ],
    "restaurant": [
        ("I had dinner at {rest} in {rcity}.", "{rcity}에 있는 {rest}에서 저녁을 먹었어요."),
        ("{rest} in {rcity} is known for its {dish}, so I went there for lunch.",
         "{rcity}의 {rest:은} {dish:으로} 유명해서 점심을 먹으러 갔어요."),
        ("Last Friday my family tried {rest}, a restaurant in {rcity}.", "지난 금요일에 가족과 함께 {rcity}의 식당 {rest}에 가 봤어요."),
        ("I ordered the {dish} at {rest}.", "{rest}에서 {dish:을} 주문했어요."),
    ],
    "product": [
        ("I bought {a_item} for {price} won last month.", "지난달에 {item:을} {price}원에 샀어요."),
        ("I have been using this {item} for two weeks.", "이 {item:을} 2주 동안 사용해 봤어요."),
        ("My friend {friend} gave me {a_item} as a present.", "친구 {friend:이} {item:을} 선물로 줬어요."),
        ("I ordered {a_item} online for {price} won.", "인터넷으로 {item:을} {price}원에 주문했어요."),
    ],
}

_ASPECTS = {
    "film": [("story", "이야기"), ("acting", "연기"), ("music", "음악"), ("ending", "결말"), ("script", "대본")],
    "restaurant": [("food", "음식"), ("service", "서비스"), ("atmosphere", "분위기"), ("dessert", "디저트")],
    "product": [("design", "디자인"), ("quality", "품질"), ("material", "소재"), ("packaging", "포장")],
}

# An aspect sentence judges one aspect, often with an adjective of the review's sentiment.
_ASPECT_TEMPLATES = {
    1: [("The {aspect} was {adj}.", "{aspect:은} {adj}."),
        ("I really liked the {aspect}.", "{aspect:이} 정말 마음에 들었어요.")],
    0: [("The {aspect} was {adj}.", "{aspect:은} {adj}."),
        ("I did not like the {aspect} at all.", "{aspect:이} 전혀 마음에 들지 않았어요.")],
}
_ADJECTIVES = {
    1: [("wonderful", "훌륭했어요"), ("excellent", "아주 좋았어요"), ("amazing", "놀라웠어요"),
        ("fantastic", "환상적이었어요"), ("perfect", "완벽했어요"), ("lovely", "정말 멋졌어요")],
    0: [("terrible", "형편없었어요"), ("disappointing", "실망스러웠어요"), ("awful", "최악이었어요"),
        ("poor", "별로였어요"), ("mediocre", "그저 그랬어요"), ("a mess", "엉망이었어요")],
}

_OPINIONS = {
    ("film", 1): [
        ("The story kept me interested from start to finish.", "이야기가 처음부터 끝까지 흥미진진했어요."),
        ("I laughed a lot and never got bored.", "많이 웃었고 전혀 지루하지 않았어요."),
        ("The ending almost made me cry.", "결말에서 눈물이 날 뻔했어요."),
        ("I would happily watch it again.", "기꺼이 한 번 더 보고 싶어요."),
        ("It is the best film I have seen this year.", "올해 본 영화 중에 최고예요."),
    ],
    ("film", 0): [
        ("The story was slow and confusing.", "이야기가 느리고 혼란스러웠어요."),
        ("I almost fell asleep halfway through.", "중간에 거의 잠들 뻔했어요."),
        ("The jokes were not funny at all.", "농담이 하나도 웃기지 않았어요."),
        ("I left the cinema before it ended.", "영화가 끝나기 전에 극장을 나왔어요."),
        ("It is the worst film I have seen this year.", "올해 본 영화 중에 최악이에요."),
    ],
    ("restaurant", 1): [
        ("The {dish} was fresh and full of flavor.", "{dish:은} 신선하고 맛이 풍부했어요."),
        ("The staff were friendly and quick.", "직원들이 친절하고 빨랐어요."),
        ("The prices were fair for such good food.", "음식이 이렇게 좋은데 가격도 적당했어요."),
        ("I will definitely go back soon.", "곧 꼭 다시 갈 거예요."),
        ("Every dish came out hot and delicious.", "모든 음식이 따뜻하고 맛있게 나왔어요."),
    ],
    ("restaurant", 0): [
        ("The {dish} was cold and too salty.", "{dish:은} 식어 있었고 너무 짰어요."),
        ("We waited an hour for our food.", "음식이 나오기까지 한 시간이나 기다렸어요."),
        ("The staff were rude and slow.", "직원들이 불친절하고 느렸어요."),
        ("It was far too expensive for what we got.", "나온 음식에 비해 너무 비쌌어요."),
        ("I will never eat there again.", "다시는 거기서 먹지 않을 거예요."),
    ],
    ("product", 1): [
        ("The {item} is sturdy and well made.", "{item:은} 튼튼하고 잘 만들어졌어요."),
        ("It arrived quickly and works perfectly.", "빨리 도착했고 아무 문제 없이 잘 써요."),
        ("For {price} won, it is a great deal.", "{price}원에 이 정도면 아주 좋은 가격이에요."),
        ("I use it every day and it still looks new.", "매일 쓰는데 아직도 새것 같아요."),
        ("I am very satisfied with this purchase.", "이번 구매에 아주 만족해요."),
    ],
    ("product", 0): [
        ("The {item} broke after only three days.", "{item:이} 사흘 만에 망가졌어요."),
        ("It looks cheap and feels flimsy.", "싸구려처럼 보이고 약해요."),
        ("For {price} won, it is not worth it.", "{price}원이나 주고 살 물건은 아니에요."),
        ("The color was different from the picture.", "색깔이 사진과 달랐어요."),
        ("I regret buying it.", "산 것을 후회해요."),
    ],
}

_VERDICTS = {
    1: [("Overall, I loved it.", "전체적으로 정말 마음에 들었어요."), ("I highly recommend it.", "강력히 추천해요."),
        ("It was worth every won.", "돈이 하나도 아깝지 않았어요."), ("What a great experience!", "정말 좋은 경험이었어요!")],
    0: [("Overall, I was disappointed.", "전체적으로 실망스러웠어요."), ("I do not recommend it.", "추천하지 않아요."),
        ("It was a waste of money.", "돈이 아까웠어요."), ("What a disappointing experience.", "정말 실망스러운 경험이었어요.")],
}

_RATINGS = [
    ("Rating: {stars} out of 5.", "평점: 5점 만점에 {stars}점."),
    ("I give it {stars} {star_word} out of 5.", "별 5개 중 {stars}개를 줄게요."),
    ("My score is {stars} out of 5.", "제 점수는 5점 만점에 {stars}점이에요."),
]


def review(rng: random.Random, world: World) -> Draft:
    """A first-person review by someone in the world: opener, opinions, verdict, star rating."""
    kind = rng.choice(list(_OPENERS))
    label = rng.randint(0, 1)
    stars = rng.choice([4, 5] if label else [1, 2])
    ctx = person_context(rng.choice(world.people))
    film, item, restaurant = rng.choice(world.films), rng.choice(world.items), rng.choice(world.restaurants)
    ctx.update(
        film=Entity(f'"{film.en}"', f'"{film.ko}"'),
        rest=Entity(restaurant.en, restaurant.ko), rcity=restaurant.city, dish=restaurant.food,
        item=item, a_item=Entity(a_an(item.en), item.ko), price=won(item.price),
        stars=stars, star_word=Entity("star" if stars == 1 else "stars", ""),
        aspect=Entity(*rng.choice(_ASPECTS[kind])), adj=Entity(*rng.choice(_ADJECTIVES[label])),
    )
    middle = [rng.choice(_ASPECT_TEMPLATES[label])] + rng.sample(_OPINIONS[kind, label], rng.randint(1, 2))
    rng.shuffle(middle)
    templates = [rng.choice(_OPENERS[kind]), *middle, rng.choice(_VERDICTS[label]), rng.choice(_RATINGS)]
    return Draft([fill(t, ctx) for t in templates], label)
