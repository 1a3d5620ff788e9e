"""The built-in task suite: determinism, FLAN fields, balance, Korean particles and agreement with the world."""

import collections
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from lmlearn.data.builtin import load_builtin
from lmlearn.data.builtin.korean import josa
from lmlearn.data.builtin.reviews import _ADJECTIVES, _ASPECT_TEMPLATES, _OPINIONS, _VERDICTS
from lmlearn.data.builtin.world import make_world
from lmlearn.errors import LmlearnError

WORLD = make_world(0)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# name: (cluster, its natural columns, the label column of a classification task or None)
SUITE = {
    "sentiment": ("sentiment", ["text", "label"], "label"),
    "nli": ("nli", ["premise", "hypothesis", "label"], "label"),
    "paraphrase": ("paraphrase", ["text", "text_pair", "label"], "label"),
    "topic": ("topic", ["text", "label"], "label"),
    "math": ("arithmetic", ["source", "target"], None),
    "strings": ("string_manipulation", ["source", "target"], None),
    "closed_qa": ("closed_qa", ["source", "target"], None),
    "word_translation": ("translation", ["source", "target"], None),
    "ner": ("ner", ["tokens", "tags"], None),
    "squad": ("reading_comprehension", ["context", "question", "answers", "id"], None),
}
ROWS = {name: load_builtin(name, {"n": "600", "seed": "3"}) for name in SUITE}
PARTICLES = "으로|로|은|는|이|가|을|를|과|와"


def _text(row: dict) -> str:
    """Everything a row says, for language and particle checks."""
    parts = [row.get(key, "") for key in ("text", "text_pair", "premise", "hypothesis", "source", "context",
                                          "question")]
    return " ".join(parts + row.get("tokens", []))


# --- options and determinism ----------------------------------------------------------------

@pytest.mark.parametrize("name", SUITE)
def test_same_options_same_rows_other_seed_other_rows(name):
    options = {"n": "120", "seed": "5", "world": "0"}
    assert load_builtin(name, options) == load_builtin(name, options)
    assert load_builtin(name, options) != load_builtin(name, {**options, "seed": "6"})


def test_rows_identical_in_another_process_with_another_hash_seed():
    code = ("import hashlib, json; from lmlearn.data.builtin import load_builtin; "
            f"print(hashlib.sha256(json.dumps([load_builtin(n, {{'n': '150'}}) for n in {list(SUITE)!r}]).encode())"
            ".hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    here = [load_builtin(name, {"n": "150"}) for name in SUITE]
    assert out.strip() == hashlib.sha256(json.dumps(here).encode()).hexdigest()


@pytest.mark.parametrize("name", ["nli", "closed_qa"])
def test_world_option_changes_the_facts(name):
    assert load_builtin(name, {"n": "200", "world": "1"}) != load_builtin(name, {"n": "200", "world": "0"})


@pytest.mark.parametrize("options, words", [({"n": "0"}, ["n=0"]), ({"lang": "fr"}, ["lang", "both"]),
                                            ({"rows": "3"}, ["rows", "n, seed, lang, world"])])
def test_bad_options_name_the_culprit(options, words):
    for name in SUITE:
        with pytest.raises(LmlearnError) as info:
            load_builtin(name, options)
        assert all(word in str(info.value) for word in [name, *words]), str(info.value)


@pytest.mark.parametrize("name", SUITE)
def test_lang_option_keeps_one_language(name):
    for lang in ("en", "ko"):
        rows = load_builtin(name, {"n": "60", "lang": lang})
        assert {r["lang"] for r in rows} == {lang}
        for r in rows:
            text = _text(r)
            if lang == "en":
                assert not HANGUL.search(text), text
            else:
                assert HANGUL.search(text) and not re.search(r"[A-Za-z]", text), text


# --- columns, FLAN fields and balance ---------------------------------------------------------

@pytest.mark.parametrize("name", SUITE)
def test_every_row_has_the_natural_columns_and_the_flan_fields(name):
    cluster, columns, label_column = SUITE[name]
    rows = ROWS[name]
    assert len(rows) == 600 and len({tuple(r) for r in rows}) == 1  # one set of keys, as a Dataset needs
    for r in rows:
        assert all(r[c] not in ("", [], None) for c in columns)
        assert (r["task"], r["cluster"]) == (name, cluster) and r["lang"] in ("en", "ko")
        assert isinstance(r["answer"], str) and r["answer"]
        if label_column:
            assert r["answer"] in r["options"] and len(set(r["options"])) == len(r["options"])
        if "target" in r:
            assert r["answer"] == r["target"]


def test_at_least_eight_clusters():
    assert len({r["cluster"] for rows in ROWS.values() for r in rows}) >= 8


@pytest.mark.parametrize("name", ["sentiment", "nli", "paraphrase", "topic"])
def test_labels_and_languages_are_balanced_and_answers_name_the_label(name):
    rows = ROWS[name]
    cells = collections.Counter((r["label"], r["lang"]) for r in rows)
    assert max(cells.values()) - min(cells.values()) <= 1
    for lang in ("en", "ko"):
        of_lang = [r for r in rows if r["lang"] == lang]
        assert len({tuple(r["options"]) for r in of_lang}) == 1  # one option list per language
        pairs = {(r["label"], r["answer"]) for r in of_lang}
        # Labels and answer strings correspond one to one, and every option is some label's answer.
        assert len(pairs) == len({label for label, _ in pairs}) == len({answer for _, answer in pairs})
        assert {answer for _, answer in pairs} == set(of_lang[0]["options"])


def test_generation_kinds_are_balanced():
    for name, column in [("closed_qa", "relation"), ("strings", "lang"), ("word_translation", "direction")]:
        counts = collections.Counter(r[column] for r in ROWS[name])
        assert max(counts.values()) - min(counts.values()) <= 1, (name, counts)


# --- Korean particles -------------------------------------------------------------------------

def _korean_words() -> set[str]:
    groups = (WORLD.cities, WORLD.jobs, WORLD.foods, WORLD.hobbies, WORLD.animals, WORLD.objects, WORLD.items,
              WORLD.restaurants, [p.name for p in WORLD.people])
    return {e.ko for group in groups for e in group} | {"그", "그녀"}


def test_korean_particles_follow_the_final_consonant():
    words = _korean_words()
    checked = 0
    for rows in ROWS.values():
        for r in rows:
            if r["lang"] != "ko":
                continue
            # A world word or a number at the start of an eojeol, maybe in quotes, then a particle ending the eojeol.
            for m in re.finditer(rf"(?<![^\s\"])(\"?[^\s\"]+?\"?)({PARTICLES})(?=[\s.,?!]|$)", _text(r)):
                word, particle = m.groups()
                if word.strip('"') in words or re.fullmatch(r"\d[\d,]*", word):
                    assert josa(word, particle) == m.group(0), m.group(0)
                    checked += 1
    assert checked > 3000


# --- agreement with the world -----------------------------------------------------------------

PEOPLE = {getattr(p.name, lang): p for p in WORLD.people for lang in ("en", "ko")}
GROUPS = {"city": WORLD.cities, "job": WORLD.jobs, "food": WORLD.foods, "hobby": WORLD.hobbies, "pet": WORLD.animals}


def _found(surface: str, text: str, lang: str) -> bool:
    return bool(re.search(rf"\b{re.escape(surface)}\b", text)) if lang == "en" else surface in text


def _mentions(text: str, lang: str) -> set[tuple[str, object]]:
    """The people, attribute values and ages a fact sentence names, as (kind, value)."""
    found = {("person", p.name) for surface, p in PEOPLE.items() if _found(surface, text, lang)}
    found |= {(kind, e) for kind, group in GROUPS.items() for e in group if _found(getattr(e, lang), text, lang)}
    return found | {("age", int(n)) for n in re.findall(r"\d+", text)}


def _subject(text: str) -> object:
    return PEOPLE[min((text.find(s), s) for s in PEOPLE if s in text)[1]]


def test_nli_labels_agree_with_the_world_and_the_premise():
    for r in ROWS["nli"]:
        # The premise names its subject before anyone else (the friend comes last).
        person, lang = _subject(r["premise"]), r["lang"]
        claim = _mentions(r["hypothesis"], lang) - {("person", person.name)}
        assert len(claim) == 1, r["hypothesis"]
        kind, value = next(iter(claim))
        true = value == (person.friend if kind == "person" else getattr(person, kind))
        premise = _mentions(r["premise"], lang) - {("person", person.name)}
        in_premise, stated = claim <= premise, any(k == kind for k, _ in premise)
        if r["label"] == "entailment":
            assert true and in_premise, r
        elif r["label"] == "contradiction":
            assert not true and stated and not in_premise, r
        else:
            assert not stated, r


def test_paraphrases_share_every_detail_and_near_misses_differ_in_one():
    for r in ROWS["paraphrase"]:
        a, b = _mentions(r["text"], r["lang"]), _mentions(r["text_pair"], r["lang"])
        assert len(a ^ b) == (0 if r["label"] else 2), r
        assert r["text"] != r["text_pair"]


def test_closed_qa_answers_are_the_world_facts():
    people = {p.name.en: p for p in WORLD.people}
    items, restaurants = {i.en: i for i in WORLD.items}, {x.en: x for x in WORLD.restaurants}
    for r in ROWS["closed_qa"]:
        relation, subject = r["relation"], r["subject"]
        if relation == "price":
            named, price = items[subject], f"{items[subject].price:,}"
            expected = (f"{price} won", f"{price}원")
        elif relation.startswith("restaurant_"):
            named = restaurants[subject]
            fact = named.city if relation == "restaurant_city" else named.food
            expected = (fact.en, fact.ko)
        else:
            named, fact = people[subject].name, getattr(people[subject], relation)
            expected = (str(fact), f"{fact}살") if relation == "age" else (fact.en, fact.ko)
        assert r["target"] == expected[r["lang"] == "ko"], r
        assert getattr(named, r["lang"]) in r["source"] and r["target"] not in r["source"], r


def test_squad_spans_match_the_context_and_the_world():
    rows = ROWS["squad"]
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        (text,), (start,) = r["answers"]["text"], r["answers"]["answer_start"]
        assert r["context"][start:start + len(text)] == text == r["answer"]
        person = next(p for p in WORLD.people if p.name.en == r["title"])
        assert getattr(person.name, r["lang"]) in r["question"] and getattr(person.name, r["lang"]) in r["context"]
        facts = {str(person.age), f"{person.age}살", *(getattr(getattr(person, a), r["lang"]) for a in
                                                      ("city", "job", "food", "hobby", "pet", "friend"))}
        assert text in facts, r


def test_topic_texts_state_the_persons_true_facts():
    for r in ROWS["topic"]:
        person = _subject(r["text"])
        for kind, value in _mentions(r["text"], r["lang"]):
            if kind in ("job", "hobby", "pet"):
                assert value == getattr(person, kind), r["text"]


# --- task-specific properties -----------------------------------------------------------------

def test_ner_tags_are_bio_and_name_the_entities():
    kinds = {"PER", "LOC", "ORG", "FOOD"}
    particles = [*PARTICLES.split("|"), "이다", "다"]
    endings = {"", "에", "에서", "에게", "까지", "의", *particles}
    for r in ROWS["ner"]:
        tokens, tags = r["tokens"], r["tags"]
        assert len(tokens) == len(tags)
        assert all(t == "O" or (t[:2] in ("B-", "I-") and t[2:] in kinds) for t in tags)
        spans = []
        for i, tag in enumerate(tags):
            assert not tag.startswith("I-") or (i > 0 and tags[i - 1][2:] == tag[2:]), (tokens, tags)
            if tag.startswith("B-"):
                spans.append([tokens[i], tag[2:]])
            elif tag.startswith("I-"):
                spans[-1][0] += ("" if tokens[i] == "'s" else " ") + tokens[i]
        named = [part[:-1].rsplit(" [", 1) for part in r["answer"].split(", ")]
        assert [kind for _, kind in named] == [kind for _, kind in spans], r
        for (span, _), (surface, _) in zip(spans, named):
            # An English span is the entity; a Korean one is the entity and what its last eojeol attaches.
            ending = span[len(surface):]
            assert span.startswith(surface) and ending in (endings if r["lang"] == "ko" else {""}), (span, surface)
            if ending in particles:
                assert josa(surface, ending) == span


PRAISE = {"amazing", "best", "delicious", "excellent", "fantastic", "friendly", "great", "laughed", "liked", "loved",
          "lovely", "perfect", "satisfied", "sturdy", "wonderful"}
BLAME = {"awful", "broke", "cheap", "confusing", "disappointed", "disappointing", "expensive", "flimsy", "mediocre",
         "poor", "regret", "rude", "slow", "terrible", "waste", "worst"}


def _review_words(label: int) -> set[str]:
    """The English words of the review genre's sentences of one sentiment (fields left out)."""
    sentences = [t[0] for t in _ASPECT_TEMPLATES[label] + _VERDICTS[label]] + [en for en, _ in _ADJECTIVES[label]]
    sentences += [t[0] for (_, sentiment), ts in _OPINIONS.items() if sentiment == label for t in ts]
    return set(re.findall(r"[a-z]+", re.sub(r"{\w+}", " ", " ".join(sentences).lower())))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_sentiment_is_decided_after_the_contrast_and_keywords_cross_the_labels():
    # Only ever used with one sentiment in the review genre: these are the keywords a shortcut would use.
    assert PRAISE <= _review_words(1) - _review_words(0) and BLAME <= _review_words(0) - _review_words(1)
    other = {1: BLAME, 0: PRAISE}
    english = [r for r in ROWS["sentiment"] if r["lang"] == "en"]
    crossed = collections.Counter()
    for r in english:
        parts = re.split(r"\b(?:But|However,|Even so,) ", r["text"])
        assert len(parts) <= 2, r["text"]
        # After the contrast (or throughout, in a plain review) no keyword of the other sentiment.
        assert not _words(parts[-1]) & other[r["label"]], r["text"]
        crossed[r["label"]] += bool(_words(r["text"]) & other[r["label"]])
    # Praise occurs in many negative reviews and complaints in many positive ones.
    assert min(crossed.values()) > 0.3 * len(english) / 2, crossed


def test_math_targets_are_the_results_of_the_two_numbers():
    cues = {"more": int.__add__, "left": int.__sub__, "in total": int.__mul__, "each friend get": int.__floordiv__,
            "cost?": int.__mul__, "older": int.__sub__, "plus": int.__add__, "minus": int.__sub__,
            "times": int.__mul__, "divided by": int.__floordiv__, "+": int.__add__, " - ": int.__sub__,
            "×": int.__mul__, "÷": int.__floordiv__}
    for r in ROWS["math"]:
        a, b = (int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", r["source"]))
        if r["lang"] == "en":
            ops = {op for cue, op in cues.items() if cue in r["source"]}
            assert len(ops) == 1, r["source"]
            assert r["target"] == str(ops.pop()(a, b)), r
        else:
            assert int(r["target"]) in (a + b, a - b, a * b, a // b), r
        assert int(r["target"]) > 0 and (a % b == 0 or "÷" not in r["source"])


def test_string_targets_follow_the_operation_on_the_quoted_word():
    inverse = {"reverse": lambda t: t[::-1], "count": None, "first": None, "last": None,
               "spell": lambda t: t.replace(" ", ""), "double": lambda t: t[:len(t) // 2], "upper": str.lower}
    for r in ROWS["strings"]:
        word, op, target = re.search(r'"([^"]+)"', r["source"]).group(1), r["operation"], r["target"]
        if op == "count":
            assert int(target) == len(word)
        elif op in ("first", "last"):
            assert target == word[0 if op == "first" else -1]
        else:
            assert inverse[op](target) == word.lower() if op == "upper" else inverse[op](target) == word
            assert target != word


def test_word_translations_pair_the_world_lexicon():
    groups = (WORLD.cities, WORLD.jobs, WORLD.foods, WORLD.hobbies, WORLD.animals, WORLD.colours, WORLD.objects,
              WORLD.items)
    pairs = {(e.en, e.ko) for group in groups for e in group}
    pairs |= {(f"{c.en} {a.en}", f"{c.ko_mod} {a.ko}") for c in WORLD.colours for a in WORLD.animals}
    pairs |= {(f"{n} {t.en if n == 1 else t.en_plural}", f"{t.ko} {n}{t.counter}") for t in WORLD.objects
              for n in range(1, 10)}
    for r in ROWS["word_translation"]:
        word = re.search(r': (.+)$|"(.+)"', r["source"])
        word = word.group(1) or word.group(2)
        assert (word, r["target"]) in pairs if r["direction"] == "en-ko" else (r["target"], word) in pairs, r
        assert r["direction"] == ("en-ko" if r["lang"] == "en" else "ko-en")


def test_similarity_scores_count_the_facts_both_texts_state_alike():
    rows = load_builtin("similarity", {"n": "600", "seed": "3"})
    assert sorted({r["label"] for r in rows}) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    counts = [sum(r["label"] == s for r in rows) for s in range(6)]
    assert max(counts) - min(counts) <= 1  # scores dealt evenly
    for r in rows:
        a, b = _mentions(r["text"], r["lang"]), _mentions(r["text_pair"], r["lang"])
        # each fact changed swaps one value for another: two mentions differ per changed fact
        assert len(a ^ b) == 2 * (5 - int(r["label"])), r
        assert r["text"] != r["text_pair"]
