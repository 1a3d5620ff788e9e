"""The tag task: BIO labels aligned to sub-words and back to words or characters, CoNLL/KLUE files,
bad data, and end-to-end training that learns entities."""

import json
import os
import random
from types import SimpleNamespace

import datasets
import pytest
import torch

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.data.sources import ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.tasks.metrics import entity_scores
from lmlearn.tasks.tag import Tag, align, is_conll, layout, unit_tags
from lmlearn.tokenization import train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

KLUE = "/work/shared/data/klue-ner/klue-ner-v1.1_dev.tsv"
FIRST = ["john", "mary", "peter", "anna", "david", "laura", "james", "emma", "oliver", "sophie"]
LAST = ["smith", "jones", "brown", "miller", "wilson", "taylor"]
CITIES = ["paris", "berlin", "london", "madrid", "rome", "vienna", "new york", "los angeles", "hong kong"]
TEMPLATES = ["{P} lives in {L} .", "yesterday {P} flew to {L} with a friend .", "{P} met {P} in {L} .",
             "the weather in {L} is nice today .", "{P} likes cats and dogs .", "in {L} , {P} sold a car ."]


def _entity(words, kind):
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]


def _sentence(rng):
    """Units and tags of one templated sentence: names from FIRST/LAST are PER, cities LOC."""
    pairs = []
    for slot in rng.choice(TEMPLATES).split():
        if slot == "{P}":
            pairs += _entity([rng.choice(FIRST)] + ([rng.choice(LAST)] if rng.random() < 0.5 else []), "PER")
        elif slot == "{L}":
            pairs += _entity(rng.choice(CITIES).split(), "LOC")
        else:
            pairs.append((slot, "O"))
    return [w for w, _ in pairs], [t for _, t in pairs]


def _char_sentence(rng):
    """The same sentence as characters, KLUE style: spaces are units, and inside an entity they are I-."""
    words, tags = _sentence(rng)
    units, char_tags = [], []
    for i, (word, tag) in enumerate(zip(words, tags)):
        if i:
            joined = tag.startswith("I-")
            units.append(" ")
            char_tags.append(tag if joined else "O")
        units += list(word)
        char_tags += [tag] + [tag if tag == "O" else "I-" + tag[2:]] * (len(word) - 1)
    return units, char_tags


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _cfg(tmp_path, **kw):
    settings = dict(task="tag", model="bert-tiny", vocab_size=1000, max_steps=80, batch_size=16, lr=2e-3,
                    warmup_steps=10, eval_every=0, eval_batches=2, out=str(tmp_path / "run"), progress=False)
    settings.update(kw)
    return FinetuneConfig(**settings)


def _predictions(tmp_path):
    return [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def tokenizers():
    """Tokenizers of three kinds whose offsets differ: WordPiece (bert), byte-level BPE (roberta), Unigram (albert)."""
    rng = random.Random(0)
    texts = [" ".join(_sentence(rng)[0]) for _ in range(300)] + ["경찰은 또 성매매 알선 자금을 관리한 박씨의"] * 20
    return {family: train_tokenizer(texts, family=family, vocab_size=400) for family in ("bert", "roberta", "albert")}


def _task(tokenizer, **kw):
    cfg = SimpleNamespace(**{**dict(tokens_column="tokens", tags_column="tags", tag_level="word", block_size=64,
                                    text_column="text", txt_unit="line", on_bad_rows="error"), **kw})
    return Tag(cfg, tokenizer)


# --- alignment ------------------------------------------------------------------------------

def test_alignment_by_hand_word_and_char_level():
    # "John Smithson": the second word is two tokens, the space before it is inside the first one's span
    cover, first = align("John Smithson", [0, 5], [(0, 0), (0, 4), (4, 10), (10, 13), (0, 0)])
    assert (cover, first) == ([1, 2], [True, True])
    # 경찰 서 as characters: the space is the leading space of "▁서", so no token covers it
    cover, first = align("경찰 서", [0, 1, 2, 3], [(0, 0), (0, 2), (2, 4), (0, 0)])
    assert (cover, first) == ([1, 1, -1, 2], [True, False, False, True])
    assert unit_tags(["O", "B-OG", "I-OG", "O"], cover, first) == ["B-OG", "I-OG", "I-OG", "I-OG"]
    assert unit_tags(["O", "B-OG", "B-OG", "O"], cover, first) == ["B-OG", "I-OG", "O", "B-OG"]
    assert unit_tags(["O", "B-PS", "O", "O"], cover, first) == ["B-PS", "I-PS", "O", "O"]


def test_a_word_split_into_subwords_is_labelled_on_its_first_subword_only(tokenizers):
    rows = [{"tokens": ["john", "smithlondonrome", "lives", "in", "paris"],
             "tags": ["B-PER", "I-PER", "O", "O", "B-LOC"]}]
    for family, tok in tokenizers.items():
        task = _task(tok)
        ds = datasets.Dataset.from_list(rows)
        task.fit(ds)
        example = task.prepare(ds, what="rows")[0]
        text, starts = layout(rows[0]["tokens"], "word")
        offsets = tok(text, return_offsets_mapping=True)["offset_mapping"]
        long_word = [t for t, (s, e) in enumerate(offsets) if s < e and e > 5 and s < 20]  # overlaps the long word
        assert len(long_word) > 2, family  # the made-up word really is split
        labelled = [t for t, label in enumerate(example["labels"]) if label != -100]
        assert len(labelled) == 5 and labelled[1] == long_word[0], family
        assert [task.labels.names[example["labels"][t]] for t in labelled] == rows[0]["tags"], family
        assert all(example["labels"][t] == -100 for t in long_word[1:])


class _Constant(torch.nn.Module):
    """A stand-in model that gives every token the same label."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def forward(self, input_ids, **_):
        logits = torch.zeros(*input_ids.shape, 8)
        logits[..., self.label] = 1.0
        return SimpleNamespace(logits=logits)


@pytest.mark.parametrize("level", ["word", "char"])
def test_predictions_come_back_one_per_unit_including_units_without_a_token(tokenizers, level):
    units = list("경찰은 또  성매매 알선") if level == "char" else ["경찰은", "또", "성매매", "smithlondonrome"]
    rows = [{"tokens": units, "tags": ["B-OG"] + ["O"] * (len(units) - 1)}]
    uncovered = shared = False
    for family, tok in tokenizers.items():
        task = _task(tok, tag_level=level)
        ds = datasets.Dataset.from_list(rows)
        task.fit(ds)
        examples = task.prepare(ds, what="rows")
        cover = examples[0]["cover"]
        uncovered, shared = uncovered or -1 in cover, shared or not all(examples[0]["first"])
        b_og = task.labels.ids["B-OG"]
        batch = task.collate(examples, torch.Generator())
        predicted = task.predict_batch(_Constant(b_og), examples, batch)[0]
        assert len(predicted) == len(units), family
        # every unit is B- where a token starts, I- inside a token, O on a space no token covers
        for u, tag in enumerate(predicted):
            expected = "O" if cover[u] < 0 else "B-OG" if examples[0]["first"][u] else "I-OG"
            assert tag == expected, (family, u)
    if level == "char":  # the cases the back-projection exists for did occur
        assert uncovered and shared


def test_units_beyond_block_size_are_predicted_o(tokenizers):
    tok = tokenizers["bert"]
    units = ["john"] * 40
    task = _task(tok, block_size=12)
    ds = datasets.Dataset.from_list([{"tokens": units, "tags": ["B-PER"] * 40}])
    task.fit(ds)
    examples = task.prepare(ds, what="rows")
    predicted = task.predict_batch(_Constant(0), examples, task.collate(examples, torch.Generator()))[0]
    seen = sum(c >= 0 for c in examples[0]["cover"])
    assert 0 < seen < 40 and len(predicted) == 40
    assert predicted[:seen] == ["B-PER"] * seen and predicted[seen:] == ["O"] * (40 - seen)


# --- reading ---------------------------------------------------------------------------------

KLUE_LIKE = ("## 토큰, 레이블 구분자 : \\t\n## 주석 : ##\n"
             "## klue-ner-v1_dev_00000\t<경찰:OG>은 또\n경\tB-OG\n찰\tI-OG\n은\tO\n \tO\n또\tO\n\n"
             "## klue-ner-v1_dev_00001\t<박:PS>씨\n박\tB-PS\n씨\tO\n")


def test_reads_a_klue_format_file_with_comments_and_space_units(tmp_path):
    path = tmp_path / "ner.tsv"
    path.write_text(KLUE_LIKE, encoding="utf-8")
    task = Tag(_cfg(tmp_path, tag_level="char"))
    ds = task.read(str(path), what="training data", report=ReadReport())
    assert ds["tokens"] == [["경", "찰", "은", " ", "또"], ["박", "씨"]]
    assert ds["tags"] == [["B-OG", "I-OG", "O", "O", "O"], ["B-PS", "O"]]
    assert ds["_where"] == [f"{path}:4", f"{path}:11"]
    assert list(task.tokenizer_texts(ds)) == ["경찰은 또", "박씨"]
    # a table with a header is not taken for CoNLL
    table = tmp_path / "table.tsv"
    table.write_text("tokens\ttags\n경\tB-OG\n", encoding="utf-8")
    assert is_conll(str(path)) and not is_conll(str(table))


def test_a_malformed_conll_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("john\tB-PER\nlives\tO\n\nmary\tPERSON\n\nrome\tB-LOC\n", encoding="utf-8")
    task = Tag(_cfg(tmp_path))
    with pytest.raises(LmlearnError, match=rf"{path}:4: expected 'unit<TAB>tag'"):
        task.read(str(path), what="training data", report=ReadReport())
    report = ReadReport()
    ds = Tag(_cfg(tmp_path, on_bad_rows="skip")).read(str(path), what="training data", report=report)
    assert ds["tokens"] == [["john", "lives"], ["rome"]] and report.skipped == 1


def test_saved_dataset_with_class_label_tags_reads_as_names(tmp_path):
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "tags": datasets.List(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    datasets.Dataset.from_dict({"tokens": [["john", "smith", "ran"]], "tags": [[1, 2, 0]]},
                               features=features).save_to_disk(str(tmp_path / "saved"))
    task = Tag(_cfg(tmp_path))
    ds = task.read(str(tmp_path / "saved"), what="training data", report=ReadReport())
    assert ds["tags"] == [["B-PER", "I-PER", "O"]] and list(task.tokenizer_texts(ds)) == ["john smith ran"]


@pytest.mark.skipif(not os.path.exists(KLUE), reason=f"KLUE-NER dev file not at {KLUE}")
def test_reads_the_real_klue_ner_dev_file(tmp_path):
    task = Tag(_cfg(tmp_path, tag_level="char"))
    ds = task.read(KLUE, what="training data", report=ReadReport())
    assert len(ds) == 5000
    tags = {t for sentence in ds["tags"] for t in sentence}
    assert tags == {"O"} | {f"{p}-{k}" for p in "BI" for k in ("DT", "LC", "OG", "PS", "QT", "TI")}
    units = [u for sentence in ds["tokens"][:200] for u in sentence]
    assert " " in units and all(len(u) == 1 for u in units)
    assert all(len(t) == len(u) for t, u in zip(list(task.tokenizer_texts(ds))[:200], ds["tokens"][:200]))


# --- bad data ---------------------------------------------------------------------------------

def _read_fit_prepare(tmp_path, train_rows, test_rows):
    task = Tag(_cfg(tmp_path))
    train = task.read(_jsonl(tmp_path / "train.jsonl", train_rows), what="training data", report=ReadReport())
    test = task.read(_jsonl(tmp_path / "test.jsonl", test_rows), what="test data", report=ReadReport())
    task = Tag(task.cfg, train_tokenizer(task.tokenizer_texts(train), family="bert", vocab_size=100))
    task.fit(train)
    task.prepare(train, what="training data")
    return task.prepare(test, what="test data")


def test_a_tag_training_never_saw_names_file_and_line(tmp_path):
    train = [{"tokens": ["john", "runs"], "tags": ["B-PER", "O"]}] * 3
    test = [{"tokens": ["mary", "runs"], "tags": ["B-PER", "O"]}, {"tokens": ["ibm", "runs"], "tags": ["B-ORG", "O"]}]
    with pytest.raises(LmlearnError, match=rf"test.jsonl:2: tag of unit 1 'B-ORG' never occurs in the training"):
        _read_fit_prepare(tmp_path, train, test)


def test_an_empty_sentence_names_file_and_line(tmp_path):
    train = [{"tokens": ["john", "runs"], "tags": ["B-PER", "O"]}, {"tokens": [], "tags": []}]
    with pytest.raises(LmlearnError, match=r"train.jsonl:2: column 'tokens' is empty"):
        _read_fit_prepare(tmp_path, train, train[:1])


def test_a_missing_column_or_uneven_tags_names_the_row(tmp_path):
    rows = [{"tokens": ["john", "runs"], "tags": ["B-PER", "O"]}, {"tokens": ["mary", "runs"]}]
    with pytest.raises(LmlearnError, match=r"train.jsonl:2: missing field 'tags'"):
        _read_fit_prepare(tmp_path, rows, rows[:1])
    rows[1]["tags"] = ["B-PER"]
    with pytest.raises(LmlearnError, match=r"train.jsonl:2: 2 units in 'tokens' but 1 tags in 'tags'"):
        _read_fit_prepare(tmp_path, rows, rows[:1])


# --- end to end ---------------------------------------------------------------------------------

def test_word_level_tagging_learns_entities(tmp_path):
    rng = random.Random(1)
    rows = [dict(zip(("tokens", "tags"), _sentence(rng))) for _ in range(480)]
    summary = run(_cfg(tmp_path, data=_jsonl(tmp_path / "train.jsonl", rows[:400]),
                       eval_data=_jsonl(tmp_path / "test.jsonl", rows[400:])))
    predictions = _predictions(tmp_path)
    assert len(predictions) == 80 and all(len(p["prediction"]) == len(p["tokens"]) for p in predictions)
    # predicting O everywhere scores entity F1 0
    assert summary["metric"] == "entity_f1" and summary["entity_f1"] > 0.8
    scores = entity_scores([p["prediction"] for p in predictions], [p["tags"] for p in predictions])
    assert summary["entity_f1"] == pytest.approx(scores["entity_f1"])


def test_character_level_klue_format_learns_entities_from_a_seeded_split(tmp_path):
    rng = random.Random(2)
    lines = ["## 토큰, 레이블 구분자 : \\t"]
    for i in range(400):
        units, tags = _char_sentence(rng)
        lines += [f"## sentence-{i}\t{''.join(units)}"] + [f"{u}\t{t}" for u, t in zip(units, tags)] + [""]
    path = tmp_path / "ner.tsv"
    path.write_text("\n".join(lines), encoding="utf-8")
    summary = run(_cfg(tmp_path, data=str(path), tag_level="char", eval_fraction=0.2))
    predictions = _predictions(tmp_path)
    assert len(predictions) == 80 == summary["test_examples"]
    assert all(len(p["prediction"]) == len(p["tokens"]) for p in predictions)
    assert summary["entity_f1"] > 0.8
