"""Bilingual sentence templates: every corpus sentence is written as an (English, Korean) pair.

Writing both languages from one template and one context keeps the two halves true
translations of each other, so the `translation` genre can reuse any genre's sentences and a
monolingual document in either language states exactly the same facts.
"""

from typing import Mapping, NamedTuple

from lmlearn.data.builtin.korean import render
from lmlearn.data.builtin.world import Entity, Person, Thing

Pair = tuple[str, str]  # (English, Korean)


class Draft(NamedTuple):
    """One document's sentences as pairs; `label` is the sentiment (1/0) or -1 when it has none."""

    pairs: list[Pair]
    label: int = -1


def a_an(phrase: str) -> str:
    """The phrase with its English indefinite article ("an engineer", "a cat")."""
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def count(n: int, thing: Thing) -> Entity:
    """`n` of a countable thing: ("3 apples", "3개"); the Korean noun is written by the template."""
    return Entity(f"{n} {thing.en if n == 1 else thing.en_plural}", f"{n}{thing.counter}")


def won(amount: int) -> str:
    """An amount of money with thousands separators, the same in both languages."""
    return f"{amount:,}"


def person_context(p: Person, suffix: str = "") -> dict[str, object]:
    """Template fields for one person; `suffix` tells two people apart ("name", "name2")."""
    female = p.gender == "female"
    fields = {
        "name": p.name, "age": p.age, "city": p.city, "job": p.job, "a_job": Entity(a_an(p.job.en), p.job.ko),
        "food": p.food, "hobby": p.hobby, "pet": p.pet, "colour": p.pet_colour,
        "colour_mod": Entity(p.pet_colour.en, p.pet_colour.ko_mod),
        "a_colour": Entity(a_an(p.pet_colour.en), p.pet_colour.ko_mod), "friend": p.friend,
        "he": Entity("she", "그녀") if female else Entity("he", "그"),
        "him": Entity("her", "그녀") if female else Entity("him", "그"),
        "his": Entity("her", "그녀의") if female else Entity("his", "그의"),
    }
    return {key + suffix: value for key, value in fields.items()}


class _Side:
    """One language's view of a context: an `Entity` field reads as its `en` or its `ko` form."""

    def __init__(self, ctx: Mapping[str, object], lang: str):
        self.ctx, self.lang = ctx, lang

    def __getitem__(self, key: str) -> object:
        value = self.ctx[key]
        return getattr(value, self.lang) if isinstance(value, Entity) else value


def fill(pair: Pair, ctx: Mapping[str, object]) -> Pair:
    """Render an (English, Korean) template pair; Korean fields may carry particles ("{name:은}")."""
    en = pair[0].format_map(_Side(ctx, "en"))
    ko = render(pair[1], _Side(ctx, "ko"))
    # Templates may open with a field ("{he} lives in ..."); English sentences start upper-case.
    return en[0].upper() + en[1:], ko
