"""Static word embeddings, the pre-BERT way of transfer: word2vec (gensim) trained on a corpus, its
vectors frozen under a small task model, a BiLSTM with a classification or tagging head.

`lmlearn finetune --static-embeddings word2vec` calls `get_tokenizer` (train word2vec, build a
word-level tokenizer over its vocabulary, save both in OUT/word2vec) and then `build_model` (the
model itself is in static_model.py). This module imports neither torch nor gensim until used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from lmlearn.config import option
from lmlearn.errors import LmlearnError
from lmlearn.extras import require

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
HEADS = ("sequence-classification", "token-classification")
VECTORS = "vectors.bin"  # word2vec's own binary format, which gensim and the original C tool read
_MAX_SENTENCE = 10_000  # gensim silently cuts longer sentences, so longer texts are split


@dataclass
class StaticOptions:
    """Settings of --static-embeddings."""

    embedding_corpus: str | None = option(None, "text to train word2vec on (default: the training texts)")
    embedding_dim: int = option(100, "word2vec vector size", range=">=1")
    w2v_algorithm: Literal["skip-gram", "cbow"] = option(
        "skip-gram", "skip-gram predicts the context from a word (better vectors for rare words); "
                     "cbow predicts a word from its context (faster)")
    w2v_window: int = option(5, "word2vec context: words on each side", range=">=1")
    w2v_min_count: int = option(5, "words seen fewer times in the corpus stay out of the vocabulary ([UNK])",
                                range=">=1")
    w2v_epochs: int = option(5, "word2vec passes over the corpus", range=">=1")
    static_hidden: int = option(128, "hidden size of each direction of the BiLSTM over static embeddings", range=">=1")
    static_dropout: float = option(0.1, "dropout before the task head of the static-embeddings model", range="[0, 1)")


def check_task(task: Any) -> None:
    """Fail unless a static-embeddings model can carry the task's head."""
    if task.head not in HEADS:
        raise LmlearnError(f"--task {task.name}: --static-embeddings supports classify, pair and tag "
                           f"(a BiLSTM with a classification or tagging head), not {task.head}; "
                           "drop --static-embeddings for this task")


# --- words and the tokenizer -------------------------------------------------------------------
def _backend(vocab: dict[str, int]) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    # NFC joins the decomposed jamo some systems write; NFKC would also fold compatibility jamo (ㅋㅋ).
    # Lower-casing merges "Good"/"good", which a small corpus cannot afford to learn apart.
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    # A word is a whitespace-separated unit, with punctuation split off, in every language. For Korean
    # that unit is the eojeol, a stem with its particles or endings (영화가, 영화를): word2vec on raw
    # text has always used it. Classic Korean pipelines split morphemes with Mecab-ko first; lmlearn
    # does not depend on an analyzer, so it pays with a larger vocabulary and more [UNK]s instead.
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    if SEP in vocab:  # a pair is "A [SEP] B": the BiLSTM reads both texts as one sequence
        tok.post_processor = processors.TemplateProcessing(single="$A", pair=f"$A {SEP} $B:1",
                                                           special_tokens=[(SEP, vocab[SEP])])
    return tok


def split_words(texts: Iterable[str]) -> Iterator[list[str]]:
    """The words of each text, exactly as the static-embeddings tokenizer splits them."""
    tok = _backend({UNK: 0})
    for text in texts:
        yield [w for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]


def build_tokenizer(words: list[str], max_length: int) -> Any:
    """A word-level `PreTrainedTokenizerFast`: ids 0-2 for [PAD] [UNK] [SEP], then `words` in order."""
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([PAD, UNK, SEP, *words])}
    return PreTrainedTokenizerFast(tokenizer_object=_backend(vocab), pad_token=PAD, unk_token=UNK, sep_token=SEP,
                                   model_input_names=["input_ids", "attention_mask"],
                                   model_max_length=max_length, clean_up_tokenization_spaces=False)


# --- word2vec ----------------------------------------------------------------------------------
class _SentenceFile:
    """One sentence a line, words joined by single spaces; re-read on each of gensim's passes, so a
    large corpus never sits in memory as lists of strings."""

    def __init__(self, path: Path):
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n").split(" ")


def train_word2vec(sentences: Iterable[list[str]], cfg: Any, seed: int, source: str = "the corpus") -> Any:
    """gensim `KeyedVectors` trained on `sentences` (re-iterable lists of words); the same for the same seed.

    Determinism: one worker thread fixes the order of the updates, and gensim 4 draws the initial
    vectors and its sampling from `seed` alone (its `hashfxn`, whose str hash follows PYTHONHASHSEED,
    seeded the vectors only up to gensim 3); the vocabulary is ordered by count, ties by first
    appearance, so no Python hash is involved.
    """
    require("gensim", "--static-embeddings word2vec")
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=cfg.embedding_dim, window=cfg.w2v_window, min_count=cfg.w2v_min_count,
                     sg=int(cfg.w2v_algorithm == "skip-gram"), epochs=cfg.w2v_epochs, workers=1, seed=seed)
    model.build_vocab(corpus_iterable=sentences)
    if not len(model.wv):
        raise LmlearnError(f"{source}: no word occurs {cfg.w2v_min_count} times or more, so word2vec has no "
                           "vocabulary; lower --w2v-min-count or give more text (--embedding-corpus)")
    model.train(corpus_iterable=sentences, total_examples=model.corpus_count, epochs=model.epochs)
    return model.wv


def _corpus_texts(cfg: Any) -> Iterator[str]:
    from lmlearn.data.sources import iter_texts, load_source

    spec = cfg.embedding_corpus
    ds = load_source(spec, required=[], txt_unit=cfg.txt_unit, on_bad_rows=cfg.on_bad_rows)
    # A .txt corpus has only a 'text' column, whatever --text-column names in the task data.
    column = cfg.text_column if cfg.text_column in ds.column_names else "text"
    if column not in ds.column_names:
        raise LmlearnError(f"--embedding-corpus {spec}: no column '{cfg.text_column}' "
                           f"(columns: {', '.join(ds.column_names)}); set --text-column")
    return (t for t in iter_texts(ds, column) if isinstance(t, str))


def get_tokenizer(cfg: Any, out: Path, texts: Iterable[str]) -> Any:
    """Train word2vec on --embedding-corpus (default: `texts`, the training texts) and return the
    word-level tokenizer over its vocabulary; both are saved in OUT/word2vec, which --resume reuses."""
    from transformers import PreTrainedTokenizerFast

    from lmlearn.io import atomic_write_dir
    from lmlearn.driver import has_checkpoint
    from lmlearn.tasks import get_task

    check_task(get_task(cfg.task))  # before word2vec spends minutes on a task it cannot serve
    folder = Path(out) / "word2vec"
    if folder.is_dir() and has_checkpoint(out):
        return PreTrainedTokenizerFast.from_pretrained(str(folder))
    source = f"--embedding-corpus {cfg.embedding_corpus}" if cfg.embedding_corpus else "the training texts"
    corpus_texts = _corpus_texts(cfg) if cfg.embedding_corpus else texts

    def fill(tmp: Path) -> None:
        corpus = tmp / "sentences.txt"
        with open(corpus, "w", encoding="utf-8") as f:
            for words in split_words(corpus_texts):
                for start in range(0, len(words), _MAX_SENTENCE):
                    f.write(" ".join(words[start:start + _MAX_SENTENCE]) + "\n")
        vectors = train_word2vec(_SentenceFile(corpus), cfg, cfg.seed, source)
        corpus.unlink()
        vectors.save_word2vec_format(str(tmp / VECTORS), binary=True)
        build_tokenizer(list(vectors.index_to_key), cfg.block_size).save_pretrained(str(tmp))

    atomic_write_dir(folder, fill)
    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def embedding_table(tokenizer: Any, vectors: Any) -> Any:
    """The vectors as a tensor of rows in token-id order, centred and scaled to unit variance;
    [UNK] is the mean word (zero once centred), [PAD] zero, [SEP] a constant row of ones."""
    import torch

    vocab = tokenizer.get_vocab()
    table = torch.zeros(len(tokenizer), vectors.vector_size)
    ids = torch.tensor([vocab[word] for word in vectors.index_to_key])
    # word2vec vectors share a large common direction that tells more about frequency than meaning
    # (Mu & Viswanath 2018, "All-but-the-Top"). On a small corpus they are nearly parallel (cosine 0.99
    # on the tests' sentences), and from such tiny differences the BiLSTM learns far slower (tagging
    # them: entity F1 0.7 instead of 1.0 after 150 steps). One shift and one scale keep the geometry.
    words = torch.from_numpy(vectors.vectors)
    words = words - words.mean(0)
    table[ids] = words / words.std()
    # Padding never reaches the LSTM (sequences are packed); [SEP] only has to differ from every word.
    table[vocab[SEP]] = 1.0
    return table


def build_model(cfg: Any, out: Path, tokenizer: Any, task: Any) -> Any:
    """A `StaticEmbeddingModel`: a BiLSTM and the task's head over the frozen word2vec vectors in OUT/word2vec."""
    import torch
    require("gensim", "--static-embeddings word2vec")
    from gensim.models import KeyedVectors

    from lmlearn.transfer.static_model import StaticEmbeddingModel, StaticModelConfig

    check_task(task)
    vectors = KeyedVectors.load_word2vec_format(str(Path(out) / "word2vec" / VECTORS), binary=True)
    labels = task.model_config()
    config = StaticModelConfig(head=task.head, vocab_size=len(tokenizer), embedding_dim=vectors.vector_size,
                               hidden_size=cfg.static_hidden, num_labels=labels["num_labels"],
                               dropout=cfg.static_dropout, pad_token_id=tokenizer.pad_token_id,
                               id2label=labels["id2label"])
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without moving the caller's stream
        torch.manual_seed(cfg.seed)
        return StaticEmbeddingModel(config, embedding_table(tokenizer, vectors))


