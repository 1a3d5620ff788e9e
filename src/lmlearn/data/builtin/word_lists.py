"""Word lists: one task per list, for in-context learning by task recognition.

`builtin:word_lists` documents are lists of `word → answer` lines in which every line follows the
same task, drawn per document from four: English → Korean ("cat → 고양이"), English → its kind
("cat → animal"), Korean → English ("고양이 → cat") and Korean → its kind ("고양이 → 동물"). Which
task a list follows is written nowhere but in its lines. So the first answer of a list can only be
guessed, while every later one can be known: from the weights (which words translate to which, what
kind each is; the words recur across lists) once the earlier lines have said which task this is.
That is the structure Xie et al. (2022) show makes in-context learning emerge in small
transformers (each document generated under one latent concept), and the part of in-context
learning that Pan et al. (2023) find already at small scale, task recognition; learning a new
mapping from the demonstrations (task learning) comes with scale, and the sorting genre measures it
(docs/results.md, in-context learning).

`builtin:words` is the lexicon, one row per word, which the `word_lists_*` evaluation tasks ask
about: the same question "cat →" under two tasks whose answers differ, so only demonstrations can
say which answer is wanted.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.world import Entity, World, make_world
from lmlearn.errors import LmlearnError

# The world's everyday nouns and the name of their kind in both languages.
KINDS = {"colours": Entity("colour", "색깔"), "animals": Entity("animal", "동물"), "foods": Entity("food", "음식"),
         "cities": Entity("city", "도시"), "hobbies": Entity("hobby", "취미"), "objects": Entity("thing", "물건")}
TASKS = ("en-ko", "en-kind", "ko-en", "ko-kind")
ARROW = "→"


def lexicon(world: World) -> list[tuple[Entity, Entity]]:
    """(word, its kind) for every everyday noun of the world."""
    return [(word, kind) for field, kind in KINDS.items() for word in getattr(world, field)]


def line(task: str, word: Entity, kind: Entity) -> tuple[str, str]:
    """The (question, answer) of one word under one task."""
    source, target = task.split("-")
    question = word.en if source == "en" else word.ko
    if target == "kind":
        return question, kind.en if source == "en" else kind.ko
    return question, word.ko if target == "ko" else word.en


@register_builtin("word_lists")
def word_lists(docs: int = 4000, seed: int = 0, world: int = 0) -> list[dict]:
    """`docs` lists {text, task, doc} of 6 to 12 distinct words each; tasks dealt evenly, then shuffled."""
    if docs < 1:
        raise LmlearnError(f"builtin:word_lists: docs={docs} must be at least 1")
    rng, words = random.Random(seed), lexicon(make_world(world))
    tasks = [TASKS[i % len(TASKS)] for i in range(docs)]
    rng.shuffle(tasks)
    rows = []
    for doc, task in enumerate(tasks):
        lines = (line(task, word, kind) for word, kind in rng.sample(words, rng.randint(6, 12)))
        rows.append({"text": "\n".join(f"{q} {ARROW} {a}" for q, a in lines), "task": task, "doc": doc})
    return rows


@register_builtin("words")
def words(world: int = 0) -> list[dict]:
    """The lexicon: {en, ko, kind_en, kind_ko} per word, in the world's order."""
    return [{"en": w.en, "ko": w.ko, "kind_en": k.en, "kind_ko": k.ko} for w, k in lexicon(make_world(world))]
