"""`builtin:relations`: relation extraction in KLUE-RE's layout. Cluster `relation`.

Each row is a sentence naming a person (the subject) and a city or a job (the object), the two
entities given as KLUE-RE gives them (`{word, start_idx, end_idx, type}`, end inclusive), and the
relation the sentence states between them: `per:place_of_residence` (the person's own city, from
the world), `per:title` (the person's own job), or `no_relation`, where a sentence pairs the same
kinds of entities without stating either ("Minjun visited Busan once"). So the entity types alone
do not decide the label: the words between the entities do.
"""

import random

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.korean import render
from lmlearn.data.builtin.phrasing import a_an
from lmlearn.data.builtin.tasks.common import task_rows
from lmlearn.data.builtin.world import make_world

NAME, CLUSTER = "relations", "relation"
LABELS = ("per:place_of_residence", "per:title", "no_relation")
# label -> object kind -> templates (en, ko); {s} the person, {o} the object
_TEMPLATES = {
    "per:place_of_residence": {"city": [("{s} lives in {o}.", "{s:은} {o}에 살아요."),
                                        ("{s} has lived in {o} for years.", "{s:은} 몇 년째 {o}에 살고 있어요.")]},
    "per:title": {"job": [("{s} works as {a_o}.", "{s:은} {o:으로} 일해요."),
                          ("By profession, {s} is {a_o}.", "{s}의 직업은 {o:이에요}.")]},
    "no_relation": {"city": [("{s} visited {o} once.", "{s:은} {o:을} 한 번 방문했어요."),
                             ("{s} watched a film about {o}.", "{s:은} {o}에 관한 영화를 봤어요.")],
                    "job": [("{s} met {a_o} yesterday.", "{s:은} 어제 {o:을} 만났어요."),
                            ("{s} read a story about {a_o}.", "{s:은} {o}에 관한 이야기를 읽었어요.")]},
}
_TYPES = {"city": "LOC", "job": "POH"}  # KLUE-RE's entity types: LOC a place, POH any other noun


def _entity(sentence: str, word: str, kind: str, after: int = 0) -> dict:
    start = sentence.index(word, after)
    return {"word": word, "start_idx": start, "end_idx": start + len(word) - 1, "type": kind}


@register_builtin(NAME)
def relations(n: int = 600, seed: int = 0, lang: str = "both", world: int = 0) -> list[dict]:
    """Rows {sentence, subject_entity, object_entity, label}, labels and languages dealt evenly."""
    facts = make_world(world)

    def make(rng: random.Random, label: str, row_lang: str) -> dict:
        person = rng.choice(facts.people)
        kind = rng.choice(sorted(_TEMPLATES[label]))
        if label == "no_relation":
            obj = rng.choice([c for c in {p.city for p in facts.people} if c != person.city] if kind == "city"
                             else [j for j in facts.jobs if j != person.job])
        else:
            obj = person.city if kind == "city" else person.job
        en, ko = rng.choice(_TEMPLATES[label][kind])
        subject, target = (person.name.en, obj.en) if row_lang == "en" else (person.name.ko, obj.ko)
        if row_lang == "en":
            sentence = en.format(s=subject, o=target, a_o=a_an(target))
        else:
            sentence = render(ko, {"s": subject, "o": target})
        subject_entity = _entity(sentence, subject, "PER")
        object_entity = _entity(sentence, target, _TYPES[kind], subject_entity["end_idx"] + 1)
        return {"sentence": sentence, "subject_entity": subject_entity, "object_entity": object_entity,
                "label": label}

    return task_rows(NAME, CLUSTER, n, seed, lang, make, LABELS)
