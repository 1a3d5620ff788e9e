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
from lmlearn.data.builtin.sorting import sorting
from lmlearn.data.builtin.world import World, make_world
from lmlearn.errors import LmlearnError

GENRES = {"biography": biography, "review": review, "arithmetic": arithmetic, "shopping": shopping, "daily": daily,
          "sorting": sorting}
LINES = {"sorting"}  # genres written one sentence per line
# Genres whose sentences the translation genre may pair up (a sorting exercise is a list, not prose).
PROSE = [genre for genre in GENRES if genre not in LINES]
OPT_IN = {"sorting"}  # dealt only when asked for by name (genres=...): see docs/results.md, in-context learning
TRANSLATION = "translation"
LANGS = ("en", "ko", "both")


def _document(doc: int, genre: str, lang: str, rng: random.Random, world: World) -> dict:
    if genre == TRANSLATION:
        # A few consecutive sentences of another genre; `lang` says which language comes first.
        source = GENRES[rng.choice(PROSE)](rng, world)
        pairs = source.pairs[:rng.randint(2, 4)]
        lines = [f"English: {en} / 한국어: {ko}" if lang == "en" else f"한국어: {ko} / English: {en}" for en, ko in pairs]
        return {"text": "\n".join(lines), "lang": lang, "doc": doc, "genre": genre, "label": -1}
    draft = GENRES[genre](rng, world)
    side = 0 if lang == "en" else 1
    joint = "\n" if genre in LINES else " "
    return {"text": joint.join(pair[side] for pair in draft.pairs), "lang": lang, "doc": doc, "genre": genre,
            "label": draft.label}


@register_builtin("corpus")
def corpus(docs: int = 4000, seed: int = 0, lang: str = "both", world: int = 0, genres: str = "all") -> list[dict]:
    """`docs` documents {text, lang, doc, genre, label}; `world` seeds the facts, `seed` the sampling,
    `genres` (comma-separated, or all) which genres are dealt."""
    if docs < 1:
        raise LmlearnError(f"builtin:corpus: docs={docs} must be at least 1")
    if lang not in LANGS:
        raise LmlearnError(f"builtin:corpus: lang={lang!r} must be one of {', '.join(LANGS)}")
    rng = random.Random(seed)
    facts = make_world(world)
    langs = ["en", "ko"] if lang == "both" else [lang]
    # Translation documents hold both languages, so a one-language corpus leaves them out.
    known = list(GENRES) + ([TRANSLATION] if lang == "both" else [])
    wanted = [g for g in known if g not in OPT_IN] if genres == "all" else [g.strip() for g in genres.split(",") if g.strip()]
    unknown = [g for g in wanted if g not in known]
    if unknown or not wanted:
        raise LmlearnError(f"builtin:corpus: genres={genres!r}: {', '.join(unknown) or 'none given'} is not a genre "
                           f"of this corpus; its genres are: {', '.join(known)} (or all)")
    genres = wanted
    cells = [(genre, doc_lang) for genre in genres for doc_lang in langs]
    # Deal the (genre, language) cells round-robin, then shuffle: counts differ by at most one.
    slots = [cells[i % len(cells)] for i in range(docs)]
    rng.shuffle(slots)
    return [_document(i, genre, doc_lang, rng, facts) for i, (genre, doc_lang) in enumerate(slots)]
