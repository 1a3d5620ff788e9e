"""Train a tokenizer for a model family: byte-level BPE, WordPiece or Unigram, with exact round trips."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import chain, islice

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from lmlearn.errors import LmlearnError
from lmlearn.families import FAMILIES, SEGMENT_FAMILIES

KINDS: tuple[str, ...] = ("bpe", "wordpiece", "unigram")

_DEFAULT_KIND = {
    "gpt2": "bpe", "roberta": "bpe", "bart": "bpe", "gpt-neox": "bpe", "llama": "bpe",
    "bert": "wordpiece", "electra": "wordpiece", "distilbert": "wordpiece", "deberta-v2": "wordpiece",
    "albert": "unigram", "xlnet": "unigram", "t5": "unigram",
}

# Dict order is vocabulary order: the first distinct tokens get ids 0, 1, 2, ... in the order the
# original models numbered them (BERT's [PAD] 0, RoBERTa's <s> 0 <pad> 1 </s> 2 <unk> 3, ...).
_BERT = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
         "mask_token": "[MASK]"}
_ROBERTA = {"bos_token": "<s>", "cls_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>",
            "sep_token": "</s>", "unk_token": "<unk>", "mask_token": "<mask>"}
_GPT = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|padding|>"}
_SPECIALS: dict[str, dict] = {
    # GPT-2 has no pad token; we borrow GPT-NeoX's <|padding|> rather than reuse <|endoftext|>,
    # so masking padding out of the labels never masks the real end of a document.
    "gpt2": _GPT,
    "gpt-neox": _GPT,
    # Llama has no pad token either; <pad> is ours.
    "llama": {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"},
    "bert": _BERT, "electra": _BERT, "distilbert": _BERT, "deberta-v2": _BERT,
    "roberta": _ROBERTA, "bart": _ROBERTA,
    "albert": {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]",
               "mask_token": "[MASK]", "bos_token": "[CLS]", "eos_token": "[SEP]"},
    "xlnet": {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<cls>",
              "sep_token": "<sep>", "pad_token": "<pad>", "mask_token": "<mask>"},
    "t5": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
           "extra_special_tokens": [f"<extra_id_{i}>" for i in range(100)]},
}

_BERT_PAIR = ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1")
_ROBERTA_PAIR = ("<s> $A </s>", "<s> $A </s> </s> $B </s>")
# (single, pair) templates as the original tokenizers build them; gpt2 and gpt-neox add nothing.
_TEMPLATES = {
    "bert": _BERT_PAIR, "electra": _BERT_PAIR, "distilbert": _BERT_PAIR, "deberta-v2": _BERT_PAIR,
    "albert": _BERT_PAIR, "roberta": _ROBERTA_PAIR, "bart": _ROBERTA_PAIR,
    "t5": ("$A </s>", "$A </s> $B </s>"),
    "llama": ("<s> $A", "<s> $A <s>:1 $B:1"),
    "xlnet": ("$A <sep> <cls>:2", "$A <sep> $B:1 <sep>:1 <cls>:2"),
}
# transformers 5 returns token_type_ids only for BERT, ELECTRA and DeBERTa-v2; ALBERT (sentence order
# prediction) and XLNet (segment recurrence) have segment embeddings too, so they get them as well.

_SPACE = "▁"  # SentencePiece's meta symbol for a space
_BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
_BYTE_SET = frozenset(_BYTE_TOKENS)
_BATCH = 1000


def default_kind(family: str) -> str:
    """The tokenizer kind ("bpe", "wordpiece" or "unigram") the family's original model used."""
    return _DEFAULT_KIND[_check_family(family)]


def special_tokens(family: str) -> dict:
    """The family's special tokens by role (bos_token, pad_token, ...), spelled as in the original model."""
    return {role: list(token) if isinstance(token, list) else token
            for role, token in _SPECIALS[_check_family(family)].items()}


def train_tokenizer(
    texts: Iterable[str],
    family: str,
    kind: str | None = None,
    vocab_size: int = 8000,
    min_frequency: int = 2,
    limit_alphabet: int | None = None,
    model_max_length: int = 1024,
) -> PreTrainedTokenizerFast:
    """Train a `kind` tokenizer on `texts` with `family`'s special tokens and post-processing."""
    if isinstance(texts, str):
        raise LmlearnError("train_tokenizer takes an iterable of texts, not one string; wrap it in a list")
    kind = kind or default_kind(family)
    if kind not in KINDS:
        raise LmlearnError(f"unknown tokenizer kind '{kind}': choose one of {', '.join(KINDS)}")
    specials = special_tokens(family)
    ordered = _ordered_specials(specials)
    # Byte-level BPE must hold all 256 bytes, and Unigram keeps them for byte fallback.
    floor = len(ordered) + (0 if kind == "wordpiece" else len(_BYTE_TOKENS))
    if vocab_size <= floor:
        needs = "special tokens" + ("" if kind == "wordpiece" else " and 256 bytes")
        raise LmlearnError(f"vocab_size={vocab_size} is too small for a {family} {kind} tokenizer: "
                           f"its {needs} alone take {floor}")
    batches = _batches(texts)
    first = next(batches, None)
    if first is None:
        raise LmlearnError("train_tokenizer got no texts to train on")

    if limit_alphabet is not None and kind != "wordpiece":
        raise LmlearnError(f"limit_alphabet applies to wordpiece tokenizers only ({kind} keeps every byte)")
    builder = {"bpe": _train_bpe, "wordpiece": _train_wordpiece, "unigram": _train_unigram}[kind]
    extra = {"limit_alphabet": limit_alphabet} if limit_alphabet is not None else {}
    backend = builder(chain([first], batches), ordered, specials["unk_token"], vocab_size, min_frequency, **extra)
    if backend.get_vocab_size() > vocab_size:
        raise _alphabet_too_big(vocab_size, kind)
    if family in _TEMPLATES:
        single, pair = _TEMPLATES[family]
        used = {t.split(":")[0] for t in f"{single} {pair}".split() if not t.startswith("$")}
        backend.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=[(t, backend.token_to_id(t)) for t in used])

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if family in SEGMENT_FAMILIES else [])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=model_max_length,
        model_input_names=names,
        # The round trip is exact only without transformers' "clean up" of spaces before punctuation.
        clean_up_tokenization_spaces=False,
        **specials,
    )


def _check_family(family: str) -> str:
    if family not in FAMILIES:
        raise LmlearnError(f"unknown model family '{family}': choose one of {', '.join(FAMILIES)}")
    return family


def _alphabet_too_big(vocab_size: int, kind: str) -> LmlearnError:
    hint = (" or keep only the most frequent characters with limit_alphabet (--limit-alphabet N; the rest "
            "become the unknown token, as in BERT)") if kind == "wordpiece" else ""
    return LmlearnError(f"vocab_size={vocab_size} cannot hold every character of the texts "
                        f"that a {kind} tokenizer must keep; raise vocab_size{hint}")


def _ordered_specials(specials: dict) -> list[str]:
    """Distinct special tokens in vocabulary order."""
    tokens: list[str] = []
    for value in specials.values():
        tokens.extend(value if isinstance(value, list) else [value])
    return list(dict.fromkeys(tokens))


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    # The trainers parallelise within a batch, so lists beat one string at a time.
    it = iter(texts)
    while batch := list(islice(it, _BATCH)):
        yield batch


def _train_bpe(batches: Iterator[list[str]], specials: list[str], unk: str, vocab_size: int,
               min_frequency: int) -> Tokenizer:
    # GPT-2's byte-level BPE: every byte is in the vocabulary, so there is no unknown token and any
    # text round-trips; no prefix space is added, so decoding gives back the text as it was.
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(batches, trainer)
    return tokenizer


def _metaspace(tokenizer: Tokenizer) -> None:
    """Whitespace handling for WordPiece and Unigram that decodes back to the exact input.

    No Unicode normalizer: NFKC or lowercasing would change Hangul and case. Instead of Metaspace's
    own prepend (which skips text that already starts with a space, so a leading space is lost on
    decoding) a Prepend normalizer always adds one "▁"; the decoder drops exactly that one again.
    Every space becomes its own "▁", so leading, trailing and repeated spaces survive. Each newline
    starts a new word, so a word piece always begins with "▁" or "\\n" and never with "##".
    """
    tokenizer.normalizer = normalizers.Prepend(_SPACE)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="never"),
        pre_tokenizers.Split("\n", behavior="merged_with_next"),
    ])


def _train_wordpiece(batches: Iterator[list[str]], specials: list[str], unk: str, vocab_size: int,
                     min_frequency: int, limit_alphabet: int | None = None) -> Tokenizer:
    # A word longer than max_input_chars_per_word (100, as in BERT) becomes one unknown token: the
    # one case where WordPiece loses text, and only for runs of 100 characters without a space or newline.
    tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
    _metaspace(tokenizer)
    # The stock WordPiece decoder puts a space before every word; Strip removes it again, since the
    # real spaces are still "▁" at that point, and Metaspace then turns those back into spaces.
    tokenizer.decoder = decoders.Sequence([
        decoders.WordPiece(prefix="##", cleanup=False),
        decoders.Strip(" ", 1, 0),
        decoders.Metaspace(replacement=_SPACE, prepend_scheme="always"),
    ])
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
        initial_alphabet=["\n"], continuing_subword_prefix="##", show_progress=False,
        **({"limit_alphabet": limit_alphabet} if limit_alphabet is not None else {}))
    tokenizer.train_from_iterator(batches, trainer)
    return tokenizer


def _train_unigram(batches: Iterator[list[str]], specials: list[str], unk: str, vocab_size: int,
                   min_frequency: int) -> Tokenizer:
    # min_frequency has no Unigram counterpart: the EM pruning decides which pieces stay.
    tokenizer = Tokenizer(models.Unigram())
    _metaspace(tokenizer)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - len(_BYTE_TOKENS), special_tokens=specials, unk_token=unk,
        initial_alphabet=["\n"], show_progress=False)
    try:
        tokenizer.train_from_iterator(batches, trainer)
    except Exception as error:  # tokenizers raises a bare Exception when the alphabet does not fit
        if "not large enough" not in str(error):
            raise
        raise _alphabet_too_big(vocab_size, "unigram") from error
    # Byte fallback as in Llama's SentencePiece: a character the pieces cannot spell is written as
    # its UTF-8 bytes <0xNN>, so even unseen Hangul round-trips instead of becoming <unk>.
    trained = json.loads(tokenizer.to_str())["model"]["vocab"]  # [piece, log probability] in id order
    pieces = [(piece, score) for piece, score in trained if piece not in _BYTE_SET]
    lowest = min(score for _, score in pieces) - 1.0
    pieces += [(byte, lowest) for byte in _BYTE_TOKENS]
    tokenizer.model = models.Unigram(pieces, unk_id=tokenizer.token_to_id(unk), byte_fallback=True)
    tokenizer.decoder = decoders.Sequence([
        decoders.ByteFallback(),
        decoders.Metaspace(replacement=_SPACE, prepend_scheme="always"),
    ])
    return tokenizer
