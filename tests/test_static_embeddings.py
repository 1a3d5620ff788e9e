"""Static word embeddings (pre-BERT transfer): word2vec is deterministic and puts words of shared
contexts together; the frozen vectors carry a label to words seen only in the unlabeled corpus;
the embedding never moves while the BiLSTM and head learn; resume reuses the saved vectors."""

import json
import os
import random
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lmlearn.errors import LmlearnError
from lmlearn.transfer import static
from lmlearn.transfer.static import StaticOptions, build_tokenizer, split_words, train_word2vec
from lmlearn.transfer.static_model import load_static_model

pytestmark = pytest.mark.usefixtures("one_thread")

FOOD = ["apple", "bread", "cheese", "rice", "soup"]
CARS = ["car", "bus", "truck", "train", "bike"]
FOOD_CONTEXT = ["eat", "cook", "taste", "kitchen", "dinner", "fresh"]
CAR_CONTEXT = ["drive", "road", "park", "engine", "ride", "fast"]
FILLER = ["i", "we", "the", "a", "today", "then", "always"]


def topic_corpus(n, seed):
    """Sentences whose middle word is a food or a vehicle, among context words of its own topic only."""
    rng, out = random.Random(seed), []
    for _ in range(n):
        words, context = (FOOD, FOOD_CONTEXT) if rng.random() < 0.5 else (CARS, CAR_CONTEXT)
        out.append([rng.choice(FILLER), rng.choice(context), rng.choice(FILLER), rng.choice(words),
                    rng.choice(context), rng.choice(FILLER)])
    return out


W2V = dict(embedding_dim=16, w2v_min_count=1, w2v_epochs=20)

DIGEST = """
import hashlib, json, sys
from lmlearn.transfer.static import StaticOptions, train_word2vec
sentences = json.load(open(sys.argv[1]))
for seed in (0, 1):
    kv = train_word2vec(sentences, StaticOptions(**json.loads(sys.argv[2])), seed=seed)
    print(hashlib.sha256(" ".join(kv.index_to_key).encode() + kv.vectors.tobytes()).hexdigest())
"""


def test_word2vec_is_deterministic_for_a_seed_whatever_the_hash_seed(tmp_path):
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(topic_corpus(300, seed=0)))
    # str hashes differ between these two interpreters
    procs = [subprocess.Popen([sys.executable, "-c", DIGEST, str(corpus), json.dumps(W2V)], text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": hash_seed})
             for hash_seed in ("1", "2")]
    runs = [p.communicate()[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and len(runs[0]) == 2
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]  # the digest does see the vectors: another seed changes it


@pytest.mark.parametrize("algorithm", ["skip-gram", "cbow"])
def test_words_of_shared_contexts_end_up_closer(algorithm):
    kv = train_word2vec(topic_corpus(2000, seed=1), StaticOptions(w2v_algorithm=algorithm, **W2V), seed=0)
    for group, other in ((FOOD, CARS), (CARS, FOOD)):
        for word in group:
            own = np.mean([kv.similarity(word, w) for w in group if w != word])
            assert own > np.mean([kv.similarity(word, w) for w in other]) + 0.3, word


def test_an_empty_vocabulary_names_the_flag():
    with pytest.raises(LmlearnError, match="--w2v-min-count"):
        train_word2vec([["once"]], StaticOptions(w2v_min_count=2), seed=0)


def test_word_level_tokenizer_splits_like_word2vec_and_maps_back_to_the_text():
    text = "The movie, 영화가 정말 좋다!"
    words = next(split_words([text]))
    assert words == ["the", "movie", ",", "영화가", "정말", "좋다", "!"]
    tok = build_tokenizer(["the", "movie", ",", "영화가", "좋다"], max_length=32)
    enc = tok(text, return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["the", "movie", ",", "영화가", "[UNK]", "좋다", "[UNK]"]
    assert [text[a:b] for a, b in enc["offset_mapping"]] == ["The", "movie", ",", "영화가", "정말", "좋다", "!"]
    pair = tok("the movie", "좋다")
    assert tok.convert_ids_to_tokens(pair["input_ids"]) == ["the", "movie", "[SEP]", "좋다"]
    assert "token_type_ids" not in pair and tok.pad_token_id == 0


def test_embedding_rows_are_the_vectors_centred_and_scaled():
    from gensim.models import KeyedVectors

    words, raw = ["a", "b", "c"], np.array([[1.0, 3.0], [3.0, 5.0], [8.0, 4.0]], dtype=np.float32)
    vectors = KeyedVectors(2)
    vectors.add_vectors(words, raw)
    tok = build_tokenizer(words, max_length=8)
    table = static.embedding_table(tok, vectors)
    rows = table[tok.convert_tokens_to_ids(words)]
    assert torch.allclose(rows.mean(0), torch.zeros(2), atol=1e-6) and rows.std().item() == pytest.approx(1.0)
    scale = (rows[1] - rows[0])[0] / (raw[1] - raw[0])[0]
    assert scale > 0 and torch.allclose(rows - rows[0], scale * torch.from_numpy(raw - raw[0]), atol=1e-6)
    assert table[tok.unk_token_id].abs().sum() == 0 == table[tok.pad_token_id].abs().sum()  # [UNK]: the mean word
    assert torch.equal(table[tok.sep_token_id], torch.ones(2))


# --- end to end ----------------------------------------------------------------------------------
POS, NEG = ["good", "great", "nice", "fine"], ["bad", "awful", "poor", "dull"]
POS_UNLABELED, NEG_UNLABELED = ["superb", "lovely", "brilliant"], ["horrible", "boring", "terrible"]
NOUNS = ["movie", "film", "plot", "cast", "story", "ending", "music", "acting"]
LIKE, HATE = ["loved", "enjoyed", "recommend", "adored"], ["hated", "regret", "avoid", "disliked"]


def reviews(rng, n, pos, neg):
    rows = []
    for _ in range(n):
        good = rng.random() < 0.5
        rows.append({"review": f"the {rng.choice(NOUNS)} was {rng.choice(pos if good else neg)}",
                     "label": "pos" if good else "neg"})
    return rows


def unlabeled(rng, n):
    """Reviews with a cue of the writer's opinion; the held-out adjectives appear only here."""
    lines = []
    for _ in range(n):
        good = rng.random() < 0.5
        review = f"the {rng.choice(NOUNS)} was {rng.choice(POS + POS_UNLABELED if good else NEG + NEG_UNLABELED)}"
        cue = f"i {rng.choice(LIKE if good else HATE)} it"
        lines.append(f"{cue} , {review} !" if rng.random() < 0.5 else f"{review} , {cue}")
    return lines


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def settings(out, **kw):
    from lmlearn.workflows.finetune import FinetuneConfig

    base = dict(task="classify", static_embeddings="word2vec", model="bert-tiny", text_column="review",
                embedding_dim=16, w2v_min_count=1, w2v_epochs=10, static_hidden=16, max_steps=60,
                batch_size=16, lr=1e-2, warmup_steps=10, eval_every=0, out=str(out), progress=False)
    base.update(kw)
    return FinetuneConfig(**base)


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    from lmlearn.workflows.finetune import run

    d, rng = tmp_path_factory.mktemp("static"), random.Random(0)
    data = write_jsonl(d / "train.jsonl", reviews(rng, 400, POS, NEG))
    test = write_jsonl(d / "test.jsonl", reviews(rng, 100, POS, NEG))
    held_out = reviews(rng, 100, POS_UNLABELED, NEG_UNLABELED)
    (d / "corpus.txt").write_text("\n".join(unlabeled(rng, 3000)) + "\n")
    cfg = settings(d / "run", data=data, eval_data=test, embedding_corpus=str(d / "corpus.txt"))
    return SimpleNamespace(cfg=cfg, out=d / "run", summary=run(cfg), held_out=held_out)


def predict(model, tok, texts):
    model.eval()
    with torch.no_grad():
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
    return [model.config.id2label[i] for i in logits.argmax(-1).tolist()]


def test_classify_learns_and_the_saved_folder_reloads(classified):
    from transformers import AutoTokenizer

    assert classified.summary["accuracy"] >= 0.9  # chance is 0.5
    model, tok = load_static_model(classified.out / "model"), AutoTokenizer.from_pretrained(classified.out / "model")
    rows = [json.loads(line) for line in (classified.out / "predictions.jsonl").read_text().splitlines()]
    assert predict(model, tok, [r["review"] for r in rows]) == [r["prediction"] for r in rows]


def test_vectors_from_the_unlabeled_corpus_carry_labels_to_unseen_words(classified):
    """The held-out adjectives never occur in labeled data; only their word2vec vectors, learned from
    the unlabeled corpus next to the opinion cues, can tell the model which way they point."""
    from transformers import AutoTokenizer

    model, tok = load_static_model(classified.out / "model"), AutoTokenizer.from_pretrained(classified.out / "model")
    predictions = predict(model, tok, [r["review"] for r in classified.held_out])
    assert np.mean([p == r["label"] for p, r in zip(predictions, classified.held_out)]) >= 0.8


def test_the_embedding_stays_frozen_while_the_bilstm_and_head_learn(classified):
    from gensim.models import KeyedVectors
    from transformers import AutoTokenizer

    from lmlearn.models.factory import count_parameters

    trained = load_static_model(classified.out / "model")
    tok = AutoTokenizer.from_pretrained(classified.out / "word2vec")
    vectors = KeyedVectors.load_word2vec_format(str(classified.out / "word2vec" / static.VECTORS), binary=True)
    assert set(tok.get_vocab()) - {"[PAD]", "[UNK]", "[SEP]"} == set(vectors.index_to_key)
    task = SimpleNamespace(name="classify", head=trained.config.head,
                           model_config=lambda: {"num_labels": 2, "id2label": trained.config.id2label})
    initial = static.build_model(classified.cfg, classified.out, tok, task)  # the run's seeded initialisation
    assert torch.equal(trained.embeddings.weight, initial.embeddings.weight)
    assert torch.equal(trained.embeddings.weight, static.embedding_table(tok, vectors))
    for (name, after), before in zip(trained.named_parameters(), initial.parameters()):
        if not name.startswith("embeddings"):
            assert not torch.equal(after, before), name
    trainable, total = count_parameters(trained)
    assert trainable == sum(p.numel() for n, p in trained.named_parameters() if not n.startswith("embeddings"))
    assert total - trainable == len(tok) * 16
    assert classified.summary["trainable_parameters"] == trainable


def test_pair_reads_both_texts_across_the_separator(tmp_path):
    """'agree' when both reviews have the same polarity: neither text alone says anything about it."""
    from lmlearn.workflows.finetune import run

    def rows(rng, n):
        out = []
        for _ in range(n):
            a, b = reviews(rng, 2, POS, NEG)
            out.append({"review": a["review"], "text_pair": b["review"],
                        "label": "agree" if a["label"] == b["label"] else "disagree"})
        return out

    rng = random.Random(3)
    data = write_jsonl(tmp_path / "train.jsonl", rows(rng, 400))
    test = write_jsonl(tmp_path / "test.jsonl", rows(rng, 100))
    summary = run(settings(tmp_path / "run", task="pair", data=data, eval_data=test, max_steps=300))
    assert summary["accuracy"] >= 0.8  # chance is 0.5


def test_resume_reuses_the_saved_vectors(tmp_path, monkeypatch):
    """An interrupted run (its last checkpoint gone) resumed without word2vec ends where the whole
    run ended; the vectors come from OUT/word2vec, here trained on the training texts."""
    from lmlearn.workflows.finetune import run

    rng = random.Random(1)
    data = write_jsonl(tmp_path / "train.jsonl", reviews(rng, 200, POS, NEG))
    cfg = settings(tmp_path / "run", data=data, max_steps=20, save_every=10, eval_fraction=0.2)
    first = run(cfg)
    whole = load_static_model(tmp_path / "run" / "model").state_dict()
    vectors = (tmp_path / "run" / "word2vec" / static.VECTORS).read_bytes()
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-00000020")

    def no_word2vec(*args, **kwargs):
        raise AssertionError("word2vec retrained on resume")

    monkeypatch.setattr(static, "train_word2vec", no_word2vec)
    resumed = run(settings(tmp_path / "run", data=data, max_steps=20, save_every=10, eval_fraction=0.2, resume=True))
    assert (tmp_path / "run" / "word2vec" / static.VECTORS).read_bytes() == vectors
    assert resumed["accuracy"] == first["accuracy"]
    for name, tensor in load_static_model(tmp_path / "run" / "model").state_dict().items():
        assert torch.equal(tensor, whole[name]), name


def test_heads_other_than_classify_and_tag_are_refused_before_word2vec(tmp_path, monkeypatch):
    qa = SimpleNamespace(name="qa", head="question-answering")
    message = "--task qa: --static-embeddings supports classify, pair and tag"
    with pytest.raises(LmlearnError, match=message):
        static.build_model(settings(tmp_path), tmp_path, None, qa)
    monkeypatch.setattr("lmlearn.tasks.get_task", lambda name: qa)
    monkeypatch.setattr(static, "train_word2vec", lambda *a, **k: pytest.fail("word2vec trained for qa"))
    with pytest.raises(LmlearnError, match=message):
        static.get_tokenizer(settings(tmp_path, task="qa"), tmp_path, ["some text"])


def test_only_static_model_folders_load(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(LmlearnError, match="not a static-embeddings model folder"):
        load_static_model(tmp_path)


PEOPLE = ["john", "mary", "peter", "anna", "david", "laura", "james", "emma"]
PLACES = ["paris", "berlin", "london", "madrid", "rome", "vienna"]
TAG_TEMPLATES = ["{P} lives in {L} .", "yesterday {P} flew to {L} .", "{P} met {P} in {L} .",
                 "the weather in {L} is nice .", "{P} likes cats ."]


def tagged(rng, n):
    """Word-level BIO rows: people PER, places LOC (a two-word person now and then)."""
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for slot in rng.choice(TAG_TEMPLATES).split():
            if slot == "{P}":
                names = rng.sample(PEOPLE, 2 if rng.random() < 0.3 else 1)
                tokens += names
                tags += ["B-PER"] + ["I-PER"] * (len(names) - 1)
            else:
                tokens.append(rng.choice(PLACES) if slot == "{L}" else slot)
                tags.append("B-LOC" if slot == "{L}" else "O")
        rows.append({"tokens": tokens, "tags": tags})
    return rows


def test_tagging_on_static_embeddings(tmp_path):
    pytest.importorskip("lmlearn.tasks.tag", reason="the tag task (src/lmlearn/tasks/tag.py) is not written yet")
    from lmlearn.workflows.finetune import run

    rng = random.Random(2)
    data = write_jsonl(tmp_path / "train.jsonl", tagged(rng, 300))
    test = write_jsonl(tmp_path / "test.jsonl", tagged(rng, 60))
    summary = run(settings(tmp_path / "run", task="tag", text_column="text", data=data, eval_data=test, max_steps=150))
    assert summary["metric"] == "entity_f1" and summary["entity_f1"] >= 0.8
    model = load_static_model(tmp_path / "run" / "model")
    assert model.config.head == "token-classification" and len(model.config.id2label) == 4
