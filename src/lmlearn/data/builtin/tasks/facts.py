"""Facts about one person of the world, stated and asked in several phrasings, in both languages.

NLI, paraphrase, closed-book QA and reading comprehension all quiz the same seven attributes.
Every statement of an attribute means the same thing, so two phrasings of one fact are
paraphrases and a statement entails any other phrasing of it; each says the fact as the only
one of its kind ("best friend", "favorite food"), so another value contradicts it.
Statements are in the plain written style of the corpus' biographies (-다), questions polite (-요).
"""

import random

from lmlearn.data.builtin.phrasing import Pair, a_an, fill
from lmlearn.data.builtin.world import Entity, Person, World

Value = Entity | int
ATTRIBUTES = ("age", "city", "job", "food", "hobby", "pet", "friend")

# {who} is the subject (the name, or he/she once the name is known), {whose} its possessive.
STATEMENTS: dict[str, list[Pair]] = {
    "age": [("{who} is {age} years old.", "{who:는} {age}살이다."),
            ("{who} turned {age} this year.", "{who:는} 올해 {age}살이 되었다."),
            ("{whose} age is {age}.", "{whose} 나이는 {age}살이다.")],
    "city": [("{who} lives in {city}.", "{who:는} {city}에 산다."),
             ("{whose} home is in {city}.", "{whose} 집은 {city}에 있다."),
             ("{who} is a resident of {city}.", "{who:는} {city}에 거주한다.")],
    "job": [("{who} works as {a_job}.", "{who:는} {job:으로} 일한다."),
            ("By profession, {who} is {a_job}.", "{whose} 직업은 {job:이다}."),
            ("{who} earns a living as {a_job}.", "{who:는} {job:으로} 생계를 꾸린다.")],
    "food": [("{whose} favorite food is {food}.", "{who:가} 가장 좋아하는 음식은 {food:이다}."),
             ("{who} likes {food} more than any other food.", "{who:는} 어떤 음식보다 {food:을} 좋아한다."),
             ("Of all foods, {who} loves {food} best.", "{who:는} 모든 음식 중에서 {food:을} 제일 좋아한다.")],
    "hobby": [("{whose} hobby is {hobby}.", "{whose} 취미는 {hobby:이다}."),
              ("{who} enjoys {hobby} as a hobby.", "{who:는} 취미로 {hobby:을} 즐긴다."),
              ("{whose} favorite pastime is {hobby}.", "{who:가} 가장 즐기는 여가 활동은 {hobby:이다}.")],
    "pet": [("{whose} pet is {a_pet}.", "{whose} 반려동물은 {pet:이다}."),
            ("{who} keeps {a_pet} as a pet.", "{who:는} 반려동물로 {pet:을} 키운다."),
            ("The animal {who} keeps at home is {a_pet}.", "{who:가} 집에서 키우는 동물은 {pet:이다}.")],
    "friend": [("{whose} best friend is {friend}.", "{whose} 가장 친한 친구는 {friend:이다}."),
               ("{who} and {friend} are best friends.", "{who:와} {friend:은} 가장 친한 친구 사이다."),
               ("{friend} is {whose} closest friend.", "{friend:은} {whose} 가장 가까운 친구다.")],
}

QUESTIONS: dict[str, list[Pair]] = {
    "age": [("How old is {name}?", "{name:은} 몇 살이에요?"), ("What is {name}'s age?", "{name}의 나이는 몇 살이에요?")],
    "city": [("Where does {name} live?", "{name:은} 어디에 살아요?"),
             ("In which city does {name} live?", "{name:은} 어느 도시에 살아요?")],
    "job": [("What does {name} do for a living?", "{name:은} 무슨 일을 해요?"),
            ("What is {name}'s job?", "{name}의 직업은 뭐예요?")],
    "food": [("What is {name}'s favorite food?", "{name:이} 가장 좋아하는 음식은 뭐예요?"),
             ("Which food does {name} like best?", "{name:은} 어떤 음식을 제일 좋아해요?")],
    "hobby": [("What is {name}'s hobby?", "{name}의 취미는 뭐예요?"),
              ("What does {name} enjoy in {his} free time?", "{name:은} 여가 시간에 무엇을 즐겨요?")],
    "pet": [("What animal does {name} keep as a pet?", "{name:은} 어떤 동물을 키워요?"),
            ("What kind of pet does {name} have?", "{name}의 반려동물은 뭐예요?")],
    "friend": [("Who is {name}'s best friend?", "{name}의 가장 친한 친구는 누구예요?"),
               ("Who is {name} best friends with?", "{name:은} 누구와 가장 친해요?")],
}


def value(person: Person, attribute: str) -> Value:
    """The person's value of an attribute (an `Entity`, or the age as an int)."""
    return getattr(person, attribute)


def other_values(world: World, person: Person, attribute: str) -> list[Value]:
    """Every value of the attribute that is not the person's own (other ages: 20 to 69)."""
    pools = {"age": range(20, 70), "city": world.cities, "job": world.jobs, "food": world.foods,
             "hobby": world.hobbies, "pet": world.animals,
             "friend": [p.name for p in world.people if p.name != person.name]}
    return [v for v in pools[attribute] if v != value(person, attribute)]


def answer(attribute: str, fact: Value, lang: str) -> str:
    """How a short answer names the value: "Seoul"/"서울", "34"/"34살", "cat"/"고양이"."""
    if attribute == "age":
        return str(fact) if lang == "en" else f"{fact}살"
    return getattr(fact, lang)


def context(person: Person, named: bool = True, **values: Value) -> dict[str, object]:
    """Template fields for the person, with `values` in place of their true attributes."""
    facts = {attribute: values.get(attribute, value(person, attribute)) for attribute in ATTRIBUTES}
    he = Entity("she", "그녀") if person.gender == "female" else Entity("he", "그")
    his = Entity("her", "그녀의") if person.gender == "female" else Entity("his", "그의")
    name = person.name
    return {**facts, "name": name, "his": his, "who": name if named else he,
            "whose": Entity(f"{name.en}'s", f"{name.ko}의") if named else his,
            "a_job": Entity(a_an(facts["job"].en), facts["job"].ko),
            "a_pet": Entity(a_an(facts["pet"].en), facts["pet"].ko)}


def state(rng: random.Random, ctx: dict[str, object], attribute: str, avoid: int = -1) -> tuple[Pair, int]:
    """One statement of the attribute from `ctx`, and which phrasing it used (never `avoid`)."""
    phrasing = rng.choice([i for i in range(len(STATEMENTS[attribute])) if i != avoid])
    return fill(STATEMENTS[attribute][phrasing], ctx), phrasing


def describe(rng: random.Random, person: Person, attributes: list[str], avoid: dict[str, int] | None = None,
             **values: Value) -> tuple[list[Pair], dict[str, int]]:
    """Statements of the attributes (the name first, then he/she) and the phrasing used for each.

    `avoid` maps an attribute to a phrasing not to use; `values` replace the person's true ones.
    """
    avoid = avoid or {}
    # The friend is a second person: mentioned last, so that he/she can only mean the subject.
    order = sorted(attributes, key=lambda attribute: attribute == "friend")
    sentences, phrasings = [], {}
    for i, attribute in enumerate(order):
        ctx = context(person, i == 0, **values)
        sentence, phrasings[attribute] = state(rng, ctx, attribute, avoid.get(attribute, -1))
        sentences.append(sentence)
    return sentences, phrasings


def ask(rng: random.Random, person: Person, attribute: str) -> Pair:
    """A question about the attribute, naming the person."""
    return fill(rng.choice(QUESTIONS[attribute]), context(person))
