"""Tokenizer training: every family's specials and templates, exact round trips, save and reload."""

import itertools

import pytest
import transformers
from transformers import AutoTokenizer

from lmlearn.errors import LmlearnError
from lmlearn.tokenization import FAMILIES, KINDS, default_kind, special_tokens, train_tokenizer

VOCAB = 1000

_EN_SUBJECTS = ["The cat", "My friend Alice", "A small robot", "Our teacher", "The old man"]
_EN_VERBS = ["reads", "writes", "finds", "likes", "draws"]
_EN_OBJECTS = ["3 books.", "a long letter!", "the map (again)?", "42 apples, maybe.", "code: x = y + 1;"]
_KO_SUBJECTS = ["고양이가", "내 친구는", "작은 로봇이", "우리 선생님은", "할아버지께서"]
_KO_OBJECTS = ["책을 3권", "긴 편지를", "지도를 다시", "사과 42개를", "코드를"]
_KO_VERBS = ["읽습니다.", "씁니다!", "찾았어요?", "좋아해요.", "그립니다."]


def _corpus() -> list[str]:
    """A few hundred English and Korean sentences, some spanning lines or with doubled spaces."""
    english = [" ".join(p) for p in itertools.product(_EN_SUBJECTS, _EN_VERBS, _EN_OBJECTS)]
    korean = [" ".join(p) for p in itertools.product(_KO_SUBJECTS, _KO_OBJECTS, _KO_VERBS)]
    joined = [f"{a}\n{b}" for a, b in zip(english, korean)] + [f"{a}  {b}" for a, b in zip(korean, english)]
    return english + korean + joined


CORPUS = _corpus()
# Unseen combinations of seen characters, with the whitespace cases a round trip must survive.
HELD = [
    "My friend Alice draws the map (again)? The cat likes 42 apples, maybe.",
    "작은 로봇이 지도를 다시 좋아해요. 할아버지께서 코드를 그립니다.",
    "Mixed 코드: 고양이가 reads 3 books.",
    " leading space",
    "trailing space ",
    "two  spaces and   three",
    "line one\nline two\n\nafter a blank line",
    "\n로봇이 편지를 씁니다",
    "사과를 좋아해요\n",
    "space before newline \n and after",
]
CASES = [(family, default_kind(family)) for family in FAMILIES] + [
    ("gpt2", "wordpiece"), ("bert", "unigram"), ("t5", "bpe"), ("llama", "unigram"), ("xlnet", "wordpiece"),
]


def test_held_texts_use_only_seen_characters():
    assert set("".join(HELD)) <= set("".join(CORPUS))


@pytest.fixture(scope="module")
def trained() -> dict:
    """One tokenizer per (family, kind) case, trained once for the module."""
    return {case: train_tokenizer(CORPUS, *case, vocab_size=VOCAB) for case in CASES}


def _tokens(tok, ids: list[int]) -> list[str]:
    return tok.convert_ids_to_tokens(ids)


def _words(tok, text: str) -> list[str]:
    """The tokens of `text` without the family's special tokens."""
    return _tokens(tok, tok(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_round_trip_is_exact(trained, case):
    tok = trained[case]
    for text in HELD:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, (case, text)
        assert tok.decode(ids) == text, (case, text)
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text, (case, text)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_save_and_reload_with_auto_tokenizer(trained, case, tmp_path):
    tok = trained[case]
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.is_fast
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.special_tokens_map == tok.special_tokens_map
    assert loaded.extra_special_tokens == tok.extra_special_tokens
    assert loaded.model_input_names == tok.model_input_names
    for text in HELD:
        assert loaded(text, "second segment") == tok(text, "second segment")
        assert loaded.decode(loaded(text)["input_ids"]) == tok.decode(tok(text)["input_ids"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_vocab_size_and_special_ids(trained, case):
    tok = trained[case]
    family, _ = case
    assert len(tok) <= VOCAB
    specials = special_tokens(family)
    distinct = list(dict.fromkeys(
        t for value in specials.values() for t in (value if isinstance(value, list) else [value])))
    # Special tokens come first, in the family's order, so their ids are stable across corpora.
    assert tok.convert_tokens_to_ids(distinct) == list(range(len(distinct)))
    assert tok.pad_token_id is not None
    for role, token in specials.items():
        if role != "extra_special_tokens":
            assert getattr(tok, role) == token
    # Special tokens are never split, even inside text.
    assert _words(tok, f"a{tok.pad_token}b").count(tok.pad_token) == 1


def test_special_tokens_are_spelled_as_in_the_original_models():
    assert special_tokens("bert")["cls_token"] == "[CLS]"
    assert special_tokens("roberta")["mask_token"] == "<mask>"
    assert special_tokens("albert")["pad_token"] == "<pad>"
    assert special_tokens("xlnet")["sep_token"] == "<sep>"
    gpt2 = special_tokens("gpt2")
    assert gpt2["eos_token"] == gpt2["bos_token"] == gpt2["unk_token"] == "<|endoftext|>"
    assert gpt2["pad_token"] != gpt2["eos_token"]
    assert special_tokens("gpt-neox")["pad_token"] == "<|padding|>"
    t5 = special_tokens("t5")
    assert t5["extra_special_tokens"] == [f"<extra_id_{i}>" for i in range(100)]
    assert all("pad_token" in special_tokens(family) for family in FAMILIES)


def test_default_kinds():
    assert len(FAMILIES) == 12
    assert {default_kind(f) for f in ("gpt2", "roberta", "bart", "gpt-neox", "llama")} == {"bpe"}
    assert {default_kind(f) for f in ("bert", "electra", "distilbert", "deberta-v2")} == {"wordpiece"}
    assert {default_kind(f) for f in ("albert", "xlnet", "t5")} == {"unigram"}


def test_bert_pair_has_cls_seps_and_segment_ids(trained):
    tok = trained[("bert", "wordpiece")]
    a, b = "The cat reads", "고양이가 씁니다"
    enc = tok(a, b)
    assert _tokens(tok, enc["input_ids"]) == ["[CLS]", *_words(tok, a), "[SEP]", *_words(tok, b), "[SEP]"]
    first = len(_words(tok, a)) + 2
    assert enc["token_type_ids"] == [0] * first + [1] * (len(enc["input_ids"]) - first)


def test_roberta_pair_format(trained):
    tok = trained[("roberta", "bpe")]
    a, b = "The cat", "고양이가"
    expected = ["<s>", *_words(tok, a), "</s>", "</s>", *_words(tok, b), "</s>"]
    assert _tokens(tok, tok(a, b)["input_ids"]) == expected
    assert "token_type_ids" not in tok(a, b)


@pytest.mark.parametrize("family, first, last", [
    ("t5", None, "</s>"), ("llama", "<s>", None), ("bart", "<s>", "</s>"), ("distilbert", "[CLS]", "[SEP]"),
])
def test_single_sequence_templates(trained, family, first, last):
    tok = trained[(family, default_kind(family))]
    text = "The cat reads 3 books."
    tokens = _tokens(tok, tok(text)["input_ids"])
    inner = _words(tok, text)
    assert tokens == [t for t in (first, *inner, last) if t is not None]


def test_xlnet_ends_with_sep_cls(trained):
    tok = trained[("xlnet", "unigram")]
    enc = tok("The cat", "고양이가")
    assert _tokens(tok, enc["input_ids"])[-2:] == ["<sep>", "<cls>"]
    assert enc["token_type_ids"][-1] == 2


@pytest.mark.parametrize("family", ["gpt2", "gpt-neox"])
def test_decoder_only_families_add_nothing(trained, family):
    tok = trained[(family, "bpe")]
    assert tok("The cat")["input_ids"] == tok("The cat", add_special_tokens=False)["input_ids"]


def test_unigram_byte_fallback_spells_unseen_hangul(trained):
    tok = trained[("t5", "unigram")]
    text = "뷁 똠방각하"  # characters absent from the corpus
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_any_kind_with_any_family(trained):
    bert_unigram = trained[("bert", "unigram")]
    assert _tokens(bert_unigram, bert_unigram("The cat")["input_ids"])[0] == "[CLS]"
    assert type(trained[("t5", "bpe")].backend_tokenizer.model).__name__ == "BPE"


def test_reload_next_to_a_model_config(trained, tmp_path):
    # AutoTokenizer picks a class from config.json's model_type when one sits in the folder; the
    # saved tokenizer_class must still win, or BertTokenizer would rebuild a stock WordPiece.
    tok = trained[("bert", "wordpiece")]
    tok.save_pretrained(tmp_path)
    transformers.BertConfig(vocab_size=len(tok)).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in HELD:
        assert loaded(text)["input_ids"] == tok(text)["input_ids"]
        assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) == text


def test_texts_may_be_a_generator():
    tok = train_tokenizer((line for line in CORPUS), "gpt2", vocab_size=400)
    assert tok.decode(tok(HELD[0])["input_ids"]) == HELD[0]


@pytest.mark.parametrize("kwargs, culprit", [
    ({"family": "gpt3"}, "gpt3"),
    ({"family": "bert", "kind": "sentencepiece"}, "sentencepiece"),
    ({"family": "t5", "kind": "bpe", "vocab_size": 300}, "vocab_size=300"),
    ({"family": "bert", "kind": "wordpiece", "vocab_size": 100}, "vocab_size=100"),
    ({"family": "albert", "kind": "unigram", "vocab_size": 300}, "vocab_size=300"),
])
def test_errors_name_the_culprit(kwargs, culprit):
    with pytest.raises(LmlearnError, match=culprit):
        train_tokenizer(CORPUS, **kwargs)


@pytest.mark.parametrize("texts, culprit", [([], "no texts"), ("one string", "one string")])
def test_bad_texts(texts, culprit):
    with pytest.raises(LmlearnError, match=culprit):
        train_tokenizer(texts, "t5")


def test_lookup_errors():
    with pytest.raises(LmlearnError, match="gpt3"):
        default_kind("gpt3")
    with pytest.raises(LmlearnError, match="gpt3"):
        special_tokens("gpt3")
    assert KINDS == ("bpe", "wordpiece", "unigram")
