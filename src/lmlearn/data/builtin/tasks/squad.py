"""`builtin:squad`: extractive reading comprehension over a short biography. Cluster `reading_comprehension`.

The context states three to five facts of one person of the world (the name first, then
he/she) in varied phrasings; the question asks about one of them, in the phrasings of
`builtin:closed_qa`; the answer is the span of the context that names the value ("Seoul",
"teacher", "34" / "서울", "교사", "34살"). `answers` has the shape of Hugging Face `squad`:
{"text": [answer], "answer_start": [offset]}, with context[start:start + len(text)] == text.
"""

import random
import re

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.tasks import facts
from lmlearn.data.builtin.tasks.common import side, task_rows
from lmlearn.data.builtin.world import World, make_world

NAME, CLUSTER = "squad", "reading_comprehension"


def _find(sentence: str, text: str, lang: str) -> int:
    """Where `text` starts in the sentence: as a whole word in English, anywhere in Korean (particles follow)."""
    pattern = re.escape(text)
    return re.search(rf"\b{pattern}\b" if lang == "en" else pattern, sentence).start()


def _example(rng: random.Random, world: World, lang: str) -> dict:
    person = rng.choice(world.people)
    stated = rng.sample(facts.ATTRIBUTES, rng.randint(3, 5))
    pairs, phrasings = facts.describe(rng, person, stated)
    sentences = [side(pair, lang) for pair in pairs]
    asked = rng.choice(stated)
    text = facts.answer(asked, facts.value(person, asked), lang)
    before = list(phrasings).index(asked)  # `phrasings` lists the attributes in the order they are stated
    start = sum(len(s) + 1 for s in sentences[:before]) + _find(sentences[before], text, lang)
    return {"title": person.name.en, "context": " ".join(sentences), "question": side(facts.ask(rng, person, asked), lang),
            "answers": {"text": [text], "answer_start": [start]}, "answer": text}


@register_builtin(NAME)
def squad(n: int = 2000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Rows {id, title, context, question, answers} in Hugging Face squad's shape."""
    facts_world = make_world(world)
    rows = task_rows(NAME, CLUSTER, n, seed, lang, lambda rng, _, row_lang: _example(rng, facts_world, row_lang))
    return [{"id": f"{NAME}-{seed}-{i}", **row} for i, row in enumerate(rows)]
