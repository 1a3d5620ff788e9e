"""`builtin:corpus`: the default pre-training text, in English and Korean, about one fact world.

Each row is one document (a paragraph). Genres are spread evenly over the documents and the
languages: biographies (facts), reviews (sentiment), arithmetic and shopping (correct sums),
daily life (the same facts as a narrative), and, when both languages are asked for,
translation pairs. See docs/builtin-data.md for what each genre is meant to teach.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.arithmetic import arithmetic
from lmlearn.data.builtin.biography import biography
from lmlearn.data.builtin.daily import daily
from lmlearn.data.builtin.reviews import review
from lmlearn.data.builtin.shopping import shopping
from lmlearn.data.builtin.world import World, make_world
from lmlearn.errors import LmlearnError

GENRES = {"biography": biography, "review": review, "arithmetic": arithmetic, "shopping": shopping, "daily": daily}
TRANSLATION = "translation"
LANGS = ("en", "ko", "both")


def _document(doc: int, genre: str, lang: str, rng: random.Random, world: World) -> dict:
    if genre == TRANSLATION:
        # A few consecutive sentences of another genre; `lang` says which language comes first.
        source = GENRES[rng.choice(list(GENRES))](rng, world)
        pairs = source.pairs[:rng.randint(2, 4)]
        lines = [f"English: {en} / 한국어: {ko}" if lang == "en" else f"한국어: {ko} / English: {en}" for en, ko in pairs]
        return {"text": "\n".join(lines), "lang": lang, "doc": doc, "genre": genre, "label": -1}
    draft = GENRES[genre](rng, world)
    side = 0 if lang == "en" else 1
    return {"text": " ".join(pair[side] for pair in draft.pairs), "lang": lang, "doc": doc, "genre": genre,
            "label": draft.label}


@register_builtin("corpus")
def corpus(docs: int = 4000, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """`docs` documents {text, lang, doc, genre, label}; `world` seeds the facts, `seed` the sampling."""
    if docs < 1:
        raise LmlearnError(f"builtin:corpus: docs={docs} must be at least 1")
    if lang not in LANGS:
        raise LmlearnError(f"builtin:corpus: lang={lang!r} must be one of {', '.join(LANGS)}")
    rng = random.Random(seed)
    facts = make_world(world)
    langs = ["en", "ko"] if lang == "both" else [lang]
    # Translation documents hold both languages, so a one-language corpus leaves them out.
    genres = list(GENRES) + ([TRANSLATION] if lang == "both" else [])
    cells = [(genre, doc_lang) for genre in genres for doc_lang in langs]
    # Deal the (genre, language) cells round-robin, then shuffle: counts differ by at most one.
    slots = [cells[i % len(cells)] for i in range(docs)]
    rng.shuffle(slots)
    return [_document(i, genre, doc_lang, rng, facts) for i, (genre, doc_lang) in enumerate(slots)]
