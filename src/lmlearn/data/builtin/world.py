"""A small, seeded world of bilingual facts that every built-in generator draws from.

The pre-training corpus states these facts in prose; later task suites (closed-book QA,
translation, sentiment) ask about the same world, so a model that read the corpus has something
real to recall. Everything here is deterministic: `make_world(seed)` returns the same world in
every run and process, and is cached so generators can share one immutable instance.
"""

import functools
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """Anything with an English and a Korean surface form."""

    en: str
    ko: str


@dataclass(frozen=True)
class Thing(Entity):
    """A countable noun: English plural and the Korean counter word (사과 3개, 책 2권, 고양이 1마리)."""

    en_plural: str
    counter: str


@dataclass(frozen=True)
class Colour(Entity):
    """A colour: `ko` is the noun (빨간색), `ko_mod` the form placed before a noun (빨간 고양이)."""

    ko_mod: str


@dataclass(frozen=True)
class Item(Thing):
    """A shop item with its price in won."""

    price: int


@dataclass(frozen=True)
class Restaurant(Entity):
    """A restaurant: the city it is in and the dish it is known for."""

    city: Entity
    food: Entity


@dataclass(frozen=True)
class Person:
    """A person and the facts the corpus states about them."""

    name: Entity
    gender: str  # "female" or "male": picks he/she in English, 그/그녀 in Korean
    age: int
    city: Entity
    job: Entity
    food: Entity
    hobby: Entity
    pet: Thing
    pet_colour: Colour
    friend: Entity


@dataclass(frozen=True)
class World:
    """The vocabulary and the seeded facts linking it."""

    seed: int
    people: tuple[Person, ...]
    cities: tuple[Entity, ...]
    jobs: tuple[Entity, ...]
    foods: tuple[Entity, ...]
    hobbies: tuple[Entity, ...]
    animals: tuple[Thing, ...]
    colours: tuple[Colour, ...]
    objects: tuple[Thing, ...]
    items: tuple[Item, ...]
    films: tuple[Entity, ...]
    restaurants: tuple[Restaurant, ...]

    def person(self, name: str) -> Person:
        """The person whose English or Korean name is `name`."""
        for p in self.people:
            if name in (p.name.en, p.name.ko):
                return p
        raise KeyError(name)


# Vocabulary. No Korean form of a city, job, food, animal or colour contains another one
# (e.g. bread/빵 is left out because of baker/제빵사), so a mention can be found by substring.
_PEOPLE = [
    ("Minjun", "민준", "male"), ("Seoyeon", "서연", "female"), ("Jiwoo", "지우", "female"),
    ("Hajun", "하준", "male"), ("Doyun", "도윤", "male"), ("Sua", "수아", "female"),
    ("Haeun", "하은", "female"), ("Yejun", "예준", "male"), ("Siwoo", "시우", "male"),
    ("Jimin", "지민", "female"), ("Yunseo", "윤서", "female"), ("Eunwoo", "은우", "male"),
    ("Seojun", "서준", "male"), ("Chaewon", "채원", "female"), ("Jiho", "지호", "male"),
    ("Yerin", "예린", "female"), ("Hyunwoo", "현우", "male"), ("Dahyun", "다현", "female"),
    ("Junho", "준호", "male"), ("Sojin", "소진", "female"), ("Jaewon", "재원", "male"),
    ("Nayeon", "나연", "female"), ("Tom", "톰", "male"), ("Anna", "안나", "female"),
    ("David", "데이비드", "male"), ("Emma", "엠마", "female"), ("Lucas", "루카스", "male"),
    ("Sophie", "소피", "female"), ("Daniel", "다니엘", "male"), ("Olivia", "올리비아", "female"),
    ("Leo", "레오", "male"), ("Mia", "미아", "female"),
]
_CITIES = [
    ("Seoul", "서울"), ("Busan", "부산"), ("Incheon", "인천"), ("Daegu", "대구"), ("Daejeon", "대전"),
    ("Gwangju", "광주"), ("Jeju", "제주"), ("Suwon", "수원"), ("Tokyo", "도쿄"), ("Paris", "파리"),
    ("London", "런던"), ("New York", "뉴욕"), ("Sydney", "시드니"), ("Berlin", "베를린"), ("Rome", "로마"),
]
_JOBS = [
    ("teacher", "교사"), ("doctor", "의사"), ("nurse", "간호사"), ("engineer", "엔지니어"),
    ("chef", "요리사"), ("farmer", "농부"), ("pilot", "조종사"), ("writer", "작가"), ("singer", "가수"),
    ("baker", "제빵사"), ("police officer", "경찰관"), ("lawyer", "변호사"), ("scientist", "과학자"),
    ("firefighter", "소방관"), ("pharmacist", "약사"),
]
_FOODS = [
    ("kimchi stew", "김치찌개"), ("bibimbap", "비빔밥"), ("pizza", "피자"), ("noodles", "국수"),
    ("sandwiches", "샌드위치"), ("ice cream", "아이스크림"), ("dumplings", "만두"),
    ("fried chicken", "치킨"), ("sushi", "초밥"), ("salad", "샐러드"), ("curry", "카레"),
    ("pasta", "파스타"), ("bulgogi", "불고기"), ("tteokbokki", "떡볶이"),
]
_HOBBIES = [
    ("reading", "독서"), ("swimming", "수영"), ("hiking", "등산"), ("drawing", "그림 그리기"),
    ("playing the piano", "피아노 연주"), ("soccer", "축구"), ("photography", "사진 찍기"),
    ("gardening", "정원 가꾸기"), ("chess", "체스"), ("dancing", "춤"), ("fishing", "낚시"),
    ("running", "달리기"),
]
_ANIMALS = [
    ("cat", "고양이", "cats"), ("dog", "강아지", "dogs"), ("rabbit", "토끼", "rabbits"),
    ("parrot", "앵무새", "parrots"), ("hamster", "햄스터", "hamsters"), ("turtle", "거북이", "turtles"),
    ("goldfish", "금붕어", "goldfish"),
]
_COLOURS = [
    ("red", "빨간색", "빨간"), ("blue", "파란색", "파란"), ("yellow", "노란색", "노란"),
    ("black", "검은색", "검은"), ("white", "하얀색", "하얀"), ("green", "초록색", "초록색"),
    ("brown", "갈색", "갈색"), ("grey", "회색", "회색"),
]
_OBJECTS = [  # things people count in arithmetic statements
    ("apple", "사과", "apples", "개"), ("orange", "오렌지", "oranges", "개"),
    ("pencil", "연필", "pencils", "자루"), ("book", "책", "books", "권"),
    ("flower", "꽃", "flowers", "송이"), ("candy", "사탕", "candies", "개"),
    ("egg", "달걀", "eggs", "개"), ("cookie", "쿠키", "cookies", "개"),
    ("stamp", "우표", "stamps", "장"), ("marble", "구슬", "marbles", "개"),
    ("sticker", "스티커", "stickers", "장"), ("balloon", "풍선", "balloons", "개"),
]
_ITEMS = [  # (en, ko, plural, counter, lowest price, highest price) in won
    ("pen", "펜", "pens", "자루", 1000, 3000), ("notebook", "공책", "notebooks", "권", 1500, 4000),
    ("umbrella", "우산", "umbrellas", "개", 8000, 20000), ("cup", "컵", "cups", "개", 3000, 9000),
    ("bag", "가방", "bags", "개", 25000, 60000), ("hat", "모자", "hats", "개", 12000, 30000),
    ("shirt", "셔츠", "shirts", "벌", 15000, 40000), ("clock", "시계", "clocks", "개", 10000, 35000),
    ("chair", "의자", "chairs", "개", 30000, 80000), ("towel", "수건", "towels", "장", 2000, 7000),
    ("mirror", "거울", "mirrors", "개", 6000, 20000), ("pillow", "베개", "pillows", "개", 9000, 25000),
]
_FILMS = [
    ("The Silent River", "고요한 강"), ("Midnight Train", "한밤의 기차"), ("The Last Summer", "마지막 여름"),
    ("City of Lights", "빛의 도시"), ("The Lost Key", "잃어버린 열쇠"), ("Winter Garden", "겨울 정원"),
    ("The Paper Boat", "종이배"), ("Stars over the Sea", "바다 위의 별"),
    ("The Old Bookshop", "오래된 책방"), ("Second Chance", "두 번째 기회"),
]
_RESTAURANTS = [
    ("Golden Spoon", "황금 숟가락"), ("Moonlight Kitchen", "달빛 부엌"), ("Harbor House", "항구 식당"),
    ("Grandma's Table", "할머니 밥상"), ("Corner Bistro", "모퉁이 식당"), ("Sunny Kitchen", "햇살 부엌"),
    ("Little Garden", "작은 뜰"), ("Silver Bowl", "은그릇"),
]


@functools.lru_cache(maxsize=None)
def make_world(seed: int = 0) -> World:
    """The world for `seed`: the same vocabulary, with facts drawn by `random.Random(seed)`."""
    rng = random.Random(seed)
    cities = tuple(Entity(en, ko) for en, ko in _CITIES)
    jobs = tuple(Entity(en, ko) for en, ko in _JOBS)
    foods = tuple(Entity(en, ko) for en, ko in _FOODS)
    hobbies = tuple(Entity(en, ko) for en, ko in _HOBBIES)
    animals = tuple(Thing(en, ko, plural, "마리") for en, ko, plural in _ANIMALS)
    colours = tuple(Colour(en, ko, mod) for en, ko, mod in _COLOURS)
    names = [Entity(en, ko) for en, ko, _ in _PEOPLE]
    people = []
    for i, (_, _, gender) in enumerate(_PEOPLE):
        friend = rng.choice(names[:i] + names[i + 1:])
        people.append(Person(
            name=names[i], gender=gender, age=rng.randint(20, 69), city=rng.choice(cities),
            job=rng.choice(jobs), food=rng.choice(foods), hobby=rng.choice(hobbies),
            pet=rng.choice(animals), pet_colour=rng.choice(colours), friend=friend,
        ))
    # Prices are multiples of 500 won, as in a Korean shop.
    items = tuple(Item(en, ko, plural, counter, 500 * rng.randint(low // 500, high // 500))
                  for en, ko, plural, counter, low, high in _ITEMS)
    restaurants = tuple(Restaurant(en, ko, rng.choice(cities), rng.choice(foods)) for en, ko in _RESTAURANTS)
    return World(
        seed=seed, people=tuple(people), cities=cities, jobs=jobs, foods=foods, hobbies=hobbies,
        animals=animals, colours=colours,
        objects=tuple(Thing(en, ko, plural, counter) for en, ko, plural, counter in _OBJECTS),
        items=items, films=tuple(Entity(en, ko) for en, ko in _FILMS), restaurants=restaurants,
    )
