"""The built-in data: registry and options, Korean particles, the fact world, and the corpus."""

import collections
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

import lmlearn.data.builtin as builtin
from lmlearn.data.builtin import builtin_names, load_builtin, register_builtin
from lmlearn.data.builtin.corpus import PROSE as GENRES, corpus
from lmlearn.data.builtin.korean import final_consonant, josa, render
from lmlearn.data.builtin.world import make_world
from lmlearn.errors import LmlearnError

ROWS = corpus(docs=1200, seed=7)
WORLD = make_world(0)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
NUMBER = re.compile(r"\d+(?:,\d{3})*")


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


def _numbers(sentence: str) -> list[int]:
    return [int(n.replace(",", "")) for n in NUMBER.findall(sentence)]


def _of(genre: str, lang: str | None = None) -> list[dict]:
    return [r for r in ROWS if r["genre"] == genre and lang in (None, r["lang"])]


# --- registry and options ---------------------------------------------------------------

def test_same_seed_same_rows_and_other_seed_other_rows():
    assert corpus(docs=200, seed=3) == corpus(docs=200, seed=3)
    assert corpus(docs=200, seed=3) != corpus(docs=200, seed=4)


def test_rows_identical_in_another_process_with_another_hash_seed():
    code = ("import hashlib, json; from lmlearn.data.builtin import load_builtin; "
            "print(hashlib.sha256(json.dumps(load_builtin('corpus', {'docs': '300'})).encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == hashlib.sha256(json.dumps(corpus(docs=300)).encode()).hexdigest()


def test_load_builtin_converts_option_strings():
    rows = load_builtin("corpus", {"docs": "12", "seed": "3", "lang": "en"})
    assert rows == corpus(docs=12, seed=3, lang="en")
    assert "corpus" in builtin_names()


@pytest.mark.parametrize("name, options, words", [
    ("nope", {}, ["nope", "corpus"]),
    ("corpus", {"size": "10"}, ["size", "docs"]),
    ("corpus", {"docs": "many"}, ["docs", "integer"]),
    ("corpus", {"seed": "1.5"}, ["seed", "integer"]),
    ("corpus", {"docs": ""}, ["docs", "integer"]),
    ("corpus", {"lang": "fr"}, ["lang", "both"]),
    ("corpus", {"docs": "0"}, ["docs"]),
])
def test_load_builtin_errors_name_the_culprit(name, options, words):
    with pytest.raises(LmlearnError) as info:
        load_builtin(name, options)
    message = str(info.value)
    assert "\n" not in message
    assert all(word in message for word in words), message


def test_register_builtin_types_options_by_annotation(monkeypatch):
    monkeypatch.setattr(builtin, "_REGISTRY", dict(builtin._REGISTRY))

    @register_builtin("echo")
    def echo(seed: int = 0, scale: float = 1.0, shout: bool = False, word: str = "hi") -> list[dict]:
        return [{"seed": seed, "scale": scale, "shout": shout, "word": word}]

    got = load_builtin("echo", {"seed": "2", "scale": "0.5", "shout": "true", "word": "yo"})
    assert got == [{"seed": 2, "scale": 0.5, "shout": True, "word": "yo"}]
    with pytest.raises(LmlearnError, match="shout.*true or false"):
        load_builtin("echo", {"shout": "maybe"})
    with pytest.raises(LmlearnError, match="registered twice"):
        register_builtin("echo")(corpus)


# --- Korean particles -------------------------------------------------------------------

@pytest.mark.parametrize("word, particle, expected", [
    ("사과", "을", "사과를"), ("책", "를", "책을"), ("민준", "는", "민준은"), ("지우", "은", "지우는"),
    ("고양이", "이", "고양이가"), ("강", "가", "강이"), ("친구", "과", "친구와"), ("동생", "와", "동생과"),
    ("서울", "으로", "서울로"), ("부산", "로", "부산으로"), ("연필", "으로", "연필로"), ("학교", "으로", "학교로"),
    ("의사", "이다", "의사다"), ("경찰관", "다", "경찰관이다"), ("가수", "이에요", "가수예요"),
    ("학생", "예요", "학생이에요"), ('"한밤의 기차"', "을", '"한밤의 기차"를'),
    ("3", "을", "3을"), ("2", "을", "2를"), ("1", "으로", "1로"), ("6", "으로", "6으로"), ("10", "은", "10은"),
    ("100", "이", "100이"), ("3,000", "과", "3,000과"), ("20000", "은", "20000은"), ("0", "이", "0이"),
])
def test_josa_follows_the_final_consonant(word, particle, expected):
    assert josa(word, particle) == expected


def test_final_consonant_and_render():
    assert final_consonant("가") == 0 and final_consonant("각") == 1 and final_consonant("갈") == 8
    assert render("{name:은} {food:을} 좋아한다.", {"name": "민준", "food": "사과"}) == "민준은 사과를 좋아한다."
    assert render("{n} 더하기 {m:는} {k:이다}.", {"n": 3, "m": 4, "k": 7}) == "3 더하기 4는 7이다."
    with pytest.raises(ValueError):
        josa("book", "을")
    with pytest.raises(ValueError):
        josa("책", "의")


# --- the world ----------------------------------------------------------------------------

def test_world_is_cached_deterministic_and_seeded():
    assert make_world(0) is make_world(0)
    make_world.cache_clear()
    assert make_world(0) == WORLD
    assert make_world(1).people != WORLD.people
    for person in WORLD.people:
        assert person.friend != person.name and 20 <= person.age <= 69
        assert HANGUL.search(person.name.ko) and person.name.en.isascii()
    assert len({p.name.ko for p in WORLD.people}) == len(WORLD.people)


def test_korean_surfaces_do_not_contain_each_other():
    # The biography check below finds mentions by substring; this keeps it sound.
    forms = [e.ko for group in (WORLD.cities, WORLD.jobs, WORLD.foods, WORLD.animals) for e in group]
    forms += [c.ko_mod for c in WORLD.colours]
    for a in forms:
        assert [b for b in forms if a != b and a in b] == [], a


# --- the corpus ---------------------------------------------------------------------------

def test_rows_share_columns():
    assert all(set(r) == {"text", "lang", "doc", "genre", "label"} for r in ROWS)
    assert [r["doc"] for r in ROWS] == list(range(len(ROWS)))


def test_languages_and_genres_are_balanced():
    cells = collections.Counter((r["genre"], r["lang"]) for r in ROWS)
    assert set(cells) == {(g, lang) for g in [*GENRES, "translation"] for lang in ("en", "ko")}
    assert set(cells.values()) == {100}
    english = corpus(docs=101, lang="en")
    assert {r["lang"] for r in english} == {"en"}
    counts = collections.Counter(r["genre"] for r in english)
    assert set(counts) == set(GENRES) and max(counts.values()) - min(counts.values()) <= 1


def test_genres_option_deals_only_the_named_genres_and_names_a_wrong_one():
    rows = corpus(docs=40, genres="sorting,review")
    assert collections.Counter(r["genre"] for r in rows) == {"sorting": 20, "review": 20}
    assert "sorting" not in {r["genre"] for r in ROWS}  # opt-in: the default corpus has none
    with pytest.raises(LmlearnError, match="genres='poems': poems is not a genre of this corpus; its genres are: "
                                           "biography, review"):
        corpus(docs=4, genres="poems")


def test_a_sorting_exercise_puts_each_sentiment_in_one_group_and_the_groups_change_per_document():
    from lmlearn.data.builtin.sorting import ARROW

    praise = {en for pairs in builtin.reviews._OPINIONS.items() if pairs[0][1] == 1 for en, _ in pairs[1]}
    names = []
    for row in corpus(docs=60, genres="sorting", lang="en"):
        header, *lines = row["text"].split("\n")
        groups = [line.rsplit(f" {ARROW} ", 1) for line in lines]
        assert 6 <= len(lines) <= 10 and len({g for _, g in groups}) == 2
        assert all(g in header for _, g in groups)
        by_group = collections.defaultdict(set)
        for sentence, group in groups:
            if sentence in praise:
                by_group["praise"].add(group)
        assert len(by_group["praise"]) <= 1  # every praise sentence of a document went to the same group
        names.append(frozenset(g for _, g in groups))
    assert len(set(names)) > 40  # the group names are drawn again for (nearly) every document


def test_opinions_are_single_sentences_with_balanced_labels_and_languages():
    rows = load_builtin("opinions", {"n": "40"})
    assert collections.Counter((r["label"], r["lang"]) for r in rows) == {(0, "en"): 10, (0, "ko"): 10,
                                                                         (1, "en"): 10, (1, "ko"): 10}
    assert all(r["text"].count(".") == 1 and r["text"].endswith(".") for r in rows)


def test_each_document_is_in_its_language():
    for r in ROWS:
        if r["genre"] == "translation":
            lines = r["text"].split("\n")
            first = "English:" if r["lang"] == "en" else "한국어:"
            assert all(line.startswith(first) and "English:" in line and "한국어:" in line for line in lines)
        elif r["lang"] == "en":
            assert r["text"].isascii(), r["text"]
        else:
            letters = [c for c in r["text"] if c.isalpha()]
            assert not re.search(r"[A-Za-z]", r["text"]), r["text"]
            assert sum(bool(HANGUL.match(c)) for c in letters) / len(letters) > 0.95


def _mentions(text: str, lang: str, surfaces: dict[str, object]) -> set:
    if lang == "ko":
        return {fact for surface, fact in surfaces.items() if surface in text}
    return {fact for surface, fact in surfaces.items() if re.search(rf"\b{re.escape(surface)}\b", text)}


def _first_group(match: re.Match) -> int:
    return int(next(group for group in match.groups() if group))


def test_biographies_agree_with_the_world():
    people = {p.name.en: p for p in WORLD.people} | {p.name.ko: p for p in WORLD.people}
    for r in _of("biography"):
        text, lang = r["text"], r["lang"]
        subject = people[min((text.find(n), n) for n in people if n in text)[1]]
        for attribute, group in [("city", WORLD.cities), ("job", WORLD.jobs), ("food", WORLD.foods),
                                 ("pet", WORLD.animals)]:
            surfaces = {getattr(e, lang): e for e in group}
            assert _mentions(text, lang, surfaces) <= {getattr(subject, attribute)}, (attribute, text)
        colours = {(c.en if lang == "en" else c.ko_mod): c for c in WORLD.colours}
        assert _mentions(text, lang, colours) <= {subject.pet_colour}, text
        others = _mentions(text, lang, {getattr(p.name, lang): p.name for p in WORLD.people})
        assert others <= {subject.name, subject.friend}, text
        age = r"(\d+)(?: years old|-year-old)|turned (\d+)" if lang == "en" else r"(\d+)살"
        assert set(map(_first_group, re.finditer(age, text))) == {subject.age}, text


def _holds(numbers: list[int]) -> bool:
    *operands, result = numbers
    if result == sum(operands):
        return True
    a, b = operands if len(operands) == 2 else (0, 0)
    return len(operands) == 2 and (result in (abs(a - b), a * b) or a == b * result or b == a * result)


def test_arithmetic_and_shopping_statements_are_correct():
    for r in _of("arithmetic") + _of("shopping"):
        checked = 0
        for sentence in _sentences(r["text"]):
            numbers = _numbers(sentence)
            if r["genre"] == "arithmetic" and numbers:
                assert len(numbers) >= 3, sentence
            if len(numbers) >= 3:
                assert _holds(numbers), sentence
                checked += 1
        assert checked >= (3 if r["genre"] == "shopping" else 1), r["text"]


def test_shopping_prices_and_ages_come_from_the_world():
    prices = {i.en: i.price for i in WORLD.items} | {i.en_plural: i.price for i in WORLD.items}
    patterns = [r"(\w+) at ([\d,]+) won each", r"one (\w+) is ([\d,]+) won", r"price of an? (\w+) is ([\d,]+) won",
                r"\ban? (\w+) usually costs ([\d,]+) won"]
    seen = 0
    for r in _of("shopping", "en"):
        for pattern in patterns:
            for item, price in re.findall(pattern, r["text"], flags=re.IGNORECASE):
                assert prices[item] == int(price.replace(",", "")), r["text"]
                seen += 1
    assert seen > 50
    ages = {p.name.en: p.age for p in WORLD.people}
    for r in _of("arithmetic", "en"):
        for name, age in re.findall(r"(\w+) is (\d+) years old and", r["text"]):
            assert ages[name] == int(age)


def test_review_labels_match_ratings():
    rating = {"en": r"\b([1-5]) (?:stars? )?out of 5\b", "ko": r"만점에 ([1-5])점|5개 중 ([1-5])개"}
    for r in ROWS:
        if r["genre"] != "review":
            assert r["label"] == -1
            continue
        stars = [_first_group(m) for m in re.finditer(rating[r["lang"]], r["text"])]
        assert len(stars) == 1, r["text"]
        assert stars[0] != 3 and r["label"] == (1 if stars[0] >= 4 else 0), r["text"]
    labels = collections.Counter(r["label"] for r in _of("review"))
    assert abs(labels[1] - labels[0]) < 0.2 * len(_of("review"))


def test_review_wording_carries_the_sentiment():
    praise = {"wonderful", "excellent", "amazing", "fantastic", "loved", "best", "delicious", "satisfied"}
    blame = {"terrible", "awful", "worst", "rude", "regret", "waste", "disappointed", "disappointing"}
    for r in _of("review", "en"):
        words = set(re.findall(r"[a-z]+", r["text"].lower()))
        assert not words & (blame if r["label"] == 1 else praise), r["text"]

