"""`lmlearn finetune` with the classification tasks: end to end, transfer modes, and bad data."""

import json

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import load_model
from lmlearn.models.factory import save_model
from lmlearn.tasks.metrics import classification_scores
from lmlearn.tokenization import train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """Built-in reviews as a sentiment task with named labels: 300 to train on, 100 to test."""
    rows = [{"text": r["text"], "label": ["negative", "positive"][r["label"]]}
            for r in load_source("builtin:corpus?docs=2400&seed=1") if r["genre"] == "review"]
    folder = tmp_path_factory.mktemp("reviews")
    return _write(folder / "train.jsonl", rows[:300]), _write(folder / "test.jsonl", rows[300:400])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A bert-tiny masked LM saved as a folder, standing in for a pre-trained model."""
    texts = load_source("builtin:corpus?docs=300")["text"]
    tokenizer = train_tokenizer(texts, family="bert", vocab_size=1000)
    model = load_model("bert-tiny", "masked-lm", tokenizer, seed=3)
    return str(save_model(model, tokenizer, tmp_path_factory.mktemp("bert") / "model"))


def _cfg(tmp_path, **kw):
    settings = dict(task="classify", model="bert-tiny", vocab_size=1000, max_steps=120, batch_size=16, lr=1e-3,
                    warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path / "run"), progress=False)
    settings.update(kw)
    return FinetuneConfig(**settings)


def _predictions(out):
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_classify_learns_and_saved_model_predicts_the_reported_labels(tmp_path, reviews):
    train, test = reviews
    summary = run(_cfg(tmp_path, data=train, eval_data=test))
    rows = _predictions(tmp_path / "run")
    gold = [r["label"] for r in rows]
    majority = max(gold.count(label) for label in set(gold)) / len(gold)
    assert len(rows) == 100 and summary["test_examples"] == 100
    assert summary["accuracy"] > majority + 0.2
    # the summary's metrics are those of the predictions file, by scikit-learn
    assert summary["accuracy"] == pytest.approx(classification_scores([r["prediction"] for r in rows], gold)["accuracy"])

    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    batch = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        ids = model(**batch).logits.argmax(-1).tolist()
    assert [model.config.id2label[i] for i in ids] == [r["prediction"] for r in rows]
    assert set(model.config.label2id) == {"negative", "positive"}


def test_pair_uses_the_models_pair_format_and_learns(tmp_path):
    # The label is the language of the SECOND text, so a run that dropped text_pair could not learn it.
    docs = [r for r in load_source("builtin:corpus?docs=600&seed=2") if r["genre"] != "translation"]
    rows = [{"a": d["text"][:120], "b": e["text"][:120], "lang_b": e["lang"]}
            for d, e in zip(docs, docs[1:] + docs[:1])]
    data = _write(tmp_path / "pairs.jsonl", rows)
    cfg = _cfg(tmp_path, task="pair", data=data, text_column="a", text_pair_column="b", label_column="lang_b",
               eval_fraction=0.2, max_steps=100)
    summary = run(cfg)
    assert summary["accuracy"] > 0.9

    from lmlearn.tasks.pair import Pair

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    task = Pair(cfg, tokenizer)
    task.fit(load_source(data, required=["a", "b", "lang_b"]))
    example = task.prepare(load_source(data, required=["a", "b", "lang_b"]).select([0]), what="x")[0]
    ids, types = example["input_ids"], example["token_type_ids"]
    seps = [i for i, t in enumerate(ids) if t == tokenizer.sep_token_id]
    assert ids[0] == tokenizer.cls_token_id and len(seps) == 2 and seps[-1] == len(ids) - 1
    assert set(types[:seps[0] + 1]) == {0} and set(types[seps[0] + 1:]) == {1}


def test_init_pretrained_loads_the_body_and_random_does_not(tmp_path, pretrained, reviews):
    from lmlearn.tasks.classify import Classify

    base = AutoModelForMaskedLM.from_pretrained(pretrained).bert.state_dict()
    task = Classify(_cfg(tmp_path, model=pretrained), AutoTokenizer.from_pretrained(pretrained))
    task.fit(load_source(reviews[0], required=["text", "label"]))
    warm = task.build_model(pretrained, seed=0).bert.state_dict()
    cold = task.build_model(pretrained, seed=0, random_init=True).bert.state_dict()
    shared = [k for k in base if k in warm]
    assert len(shared) > 10
    assert all(torch.equal(base[k], warm[k]) for k in shared)
    assert not all(torch.equal(base[k], cold[k]) for k in shared if "LayerNorm" not in k)


def test_freeze_trains_only_the_head(tmp_path, pretrained, reviews):
    train, test = reviews
    summary = run(_cfg(tmp_path, model=pretrained, data=train, eval_data=test, freeze=True, max_steps=30))
    assert summary["init"] == "pretrained" and summary["trainable_parameters"] < summary["parameters"] / 5
    base = AutoModelForMaskedLM.from_pretrained(pretrained).bert.state_dict()
    tuned = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    body = {k: v for k, v in tuned.bert.state_dict().items() if "pooler" not in k}
    assert body and all(torch.equal(base[k], v) for k, v in body.items())
    fresh = AutoModelForSequenceClassification.from_pretrained(pretrained, num_labels=2)
    assert not torch.equal(fresh.classifier.weight, tuned.classifier.weight)


def test_unseen_label_empty_text_and_missing_column_name_the_place(tmp_path, reviews):
    train = reviews[0]
    unseen = _write(tmp_path / "unseen.jsonl", [{"text": "좋아요", "label": "positive"},
                                                {"text": "그저 그래요", "label": "mixed"}])
    with pytest.raises(LmlearnError, match=r"unseen\.jsonl:2: label value 'mixed' never occurs in the training data"):
        run(_cfg(tmp_path, data=train, eval_data=unseen, out=str(tmp_path / "a")))
    empty = _write(tmp_path / "empty.jsonl", [{"text": "좋아요", "label": "positive"}, {"text": " ", "label": "negative"}])
    with pytest.raises(LmlearnError, match=r"empty\.jsonl:2: field 'text' is empty"):
        run(_cfg(tmp_path, data=train, eval_data=empty, out=str(tmp_path / "b")))
    with pytest.raises(LmlearnError, match=r"missing field 'review'"):
        run(_cfg(tmp_path, data=train, text_column="review", out=str(tmp_path / "c")))


def test_transfer_modes_that_make_no_sense_are_refused(tmp_path, reviews):
    with pytest.raises(LmlearnError, match="--init pretrained: 'bert-tiny' is a preset"):
        run(_cfg(tmp_path, data=reviews[0], init="pretrained"))
    with pytest.raises(LmlearnError, match="--freeze .* needs pre-trained"):
        run(_cfg(tmp_path, data=reviews[0], freeze=True))


def test_validation_split_chooses_the_step_and_the_test_data_is_read_only_to_score(tmp_path, reviews):
    train, test = reviews
    out = tmp_path / "run"
    summary = run(_cfg(tmp_path, data=train, eval_data=test, out=str(out), train_examples=200, validation_fraction=0.25, early_stopping=2,
                       eval_every=5, max_steps=200, lr=3e-3))
    assert (summary["train_examples"], summary["validation_examples"], summary["test_examples"]) == (150, 50, 100)
    assert "eval_loss" not in summary and summary["stopped_early"] and summary["steps"] < 200
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in logged if "eval_loss" in r]
    assert all(0 <= r["eval_accuracy"] <= 1 for r in logged)  # the classification step's named metric
    assert summary["best_step"] == min(logged, key=lambda r: r["eval_loss"])["step"]
    assert summary["validation_loss"] == pytest.approx(min(r["eval_loss"] for r in logged), abs=1e-5)
    with pytest.raises(LmlearnError, match="--early-stopping chooses the stopping step on held-out data; give "
                                           "--validation-fraction"):
        run(_cfg(tmp_path, data=train, eval_data=test, out=str(tmp_path / "b"), early_stopping=2, eval_every=5))
    with pytest.raises(LmlearnError, match="--train-examples 999: the training data has only 300 rows"):
        run(_cfg(tmp_path, data=train, eval_data=test, out=str(tmp_path / "c"), train_examples=999))



def test_early_stopping_on_accuracy_and_a_subclass_keeps_its_own_loss(tmp_path, reviews):
    from lmlearn.tasks import classify

    train, test = reviews
    out = tmp_path / "acc"
    summary = run(_cfg(tmp_path, data=train, eval_data=test, out=str(out), validation_fraction=0.25,
                       early_stopping=3, early_stopping_metric="accuracy", eval_every=5, max_steps=60))
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    accs = [(r["step"], r["eval_accuracy"]) for r in logged if "eval_accuracy" in r]
    best = max(a for _, a in accs)
    assert summary["best_step"] == max(s for s, a in accs if a == best)  # a tie goes to the later evaluation
    assert summary["validation_accuracy"] == pytest.approx(best, abs=1e-6)

    calls = []

    class Weighted(classify.Classify):
        def loss(self, model, batch):
            calls.append(1)
            return super().loss(model, batch) * 2

    import types

    task = Weighted.__new__(Weighted)
    models = types.SimpleNamespace(model=lambda **b: types.SimpleNamespace(
        loss=torch.tensor(1.0), logits=torch.tensor([[0.0, 1.0]])))
    out_step = task.step(models, {"input_ids": torch.tensor([[1]]), "labels": torch.tensor([1])})
    assert calls and float(out_step.loss) == 2.0 and float(out_step.metrics["accuracy"]) == 1.0


def _sts(path, n, seed):
    """STS-style TSV: two sentences and a 0-5 score, the number of "warm" words in the second sentence (so a run
    that dropped the second sentence could not learn it)."""
    import random

    warm, cold = "red sun fire summer desert".split(), "blue sea snow winter rain ice moon".split()
    g = random.Random(seed)
    lines = ["sentence1\tsentence2\tscore"]
    for _ in range(n):
        shared = g.randrange(0, 6)
        b = g.sample(warm, shared) + g.sample(cold, 5 - shared)
        g.shuffle(b)
        lines.append(f"{' '.join(g.sample(warm + cold, 5))}\t{' '.join(b)}\t{shared:.1f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_regress_learns_graded_similarity_and_saves_a_regression_head(tmp_path):
    train, test = _sts(tmp_path / "train.tsv", 400, 0), _sts(tmp_path / "test.tsv", 100, 1)
    summary = run(_cfg(tmp_path, task="regress", data=train, eval_data=test, text_column="sentence1",
                       text_pair_column="sentence2", label_column="score", label_scale=5.0, max_steps=150))
    assert summary["metric"] == "pearson" and summary["pearson"] > 0.5 and summary["spearman"] > 0.5
    rows = _predictions(tmp_path / "run")
    assert isinstance(rows[0]["prediction"], float) and 0 <= sum(r["prediction"] for r in rows) / len(rows) <= 5
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence1\tsentence2\tscore\na b\tc d\thigh\n", encoding="utf-8")
    with pytest.raises(LmlearnError, match=r"bad.tsv:2: score value 'high' is not a number"):
        run(_cfg(tmp_path, task="regress", data=str(bad), eval_data=test, text_column="sentence1",
                 text_pair_column="sentence2", label_column="score", out=str(tmp_path / "bad")))


_TOPICS = {"sports": ["goal", "match", "team"], "food": ["kimchi", "noodles", "soup"],
           "music": ["song", "piano", "concert"], "travel": ["train", "hotel", "beach"]}
_FILLER = ["the", "a", "we", "went", "today", "really", "was", "and", "then", "it", "very", "good"]


def _multilabel(path, n, seed, as_lists):
    """Texts naming one or two topics by their words; labels as JSON lists (jsonl) or 'a|b' strings (tsv)."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topics = sorted(rng.sample(sorted(_TOPICS), rng.choice([1, 1, 2])))
        words = rng.sample(_FILLER, 6) + [rng.choice(_TOPICS[t]) for t in topics]
        rng.shuffle(words)
        rows.append((" ".join(words), topics))
    if as_lists:
        path.write_text("".join(json.dumps({"text": t, "label": ls}) + "\n" for t, ls in rows), encoding="utf-8")
    else:
        path.write_text("text\tlabel\n" + "".join(f"{t}\t{'|'.join(ls)}\n" for t, ls in rows), encoding="utf-8")
    return str(path)


def test_multilabel_predicts_label_sets_and_saves_a_multi_label_head(tmp_path):
    train = _multilabel(tmp_path / "train.jsonl", 600, 0, as_lists=True)
    test = _multilabel(tmp_path / "test.tsv", 200, 1, as_lists=False)
    summary = run(_cfg(tmp_path, task="multilabel", data=train, eval_data=test, max_steps=400,
                       label_thresholds="travel=0.4"))
    # predicting every label scores micro-F1 0.55 here (precision 0.38); the words decide the topics
    assert summary["metric"] == "micro_f1" and summary["micro_f1"] > 0.8 and summary["exact_match"] > 0.5
    rows = _predictions(tmp_path / "run")
    assert all(isinstance(r["prediction"], list) for r in rows) and any(len(r["prediction"]) == 2 for r in rows)
    assert sum(r["acc"] for r in rows) / len(rows) == pytest.approx(summary["exact_match"])
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    assert model.config.problem_type == "multi_label_classification" and model.config.num_labels == 4
    assert model.config.label_thresholds == {"food": 0.5, "music": 0.5, "sports": 0.5, "travel": 0.4}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a goal", "label": {"sports": 1}}) + "\n", encoding="utf-8")
    with pytest.raises(LmlearnError, match=r"bad.jsonl:1: label value \{'sports': 1\} is not a list of labels"):
        run(_cfg(tmp_path, task="multilabel", data=str(bad), eval_data=test, out=str(tmp_path / "bad")))
    with pytest.raises(LmlearnError, match=r"--label-thresholds 'films=0.3': give LABEL=P with a training label"):
        run(_cfg(tmp_path, task="multilabel", data=train, eval_data=test, label_thresholds="films=0.3",
                 out=str(tmp_path / "bad2")))


def test_relation_marks_the_entities_and_learns_what_the_words_between_them_say(tmp_path):
    from collections import Counter

    from lmlearn.tasks.relation import mark

    subject = {"word": "Minjun", "start_idx": 0, "end_idx": 5, "type": "PER"}
    obj = {"word": "Busan", "start_idx": 16, "end_idx": 20, "type": "LOC"}
    assert mark("Minjun lives in Busan.", subject, obj) == "@ * PER * Minjun @ lives in # ^ LOC ^ Busan #."
    assert mark("Busan is home to Minjun.", {**subject, "start_idx": 17, "end_idx": 22},
                {**obj, "start_idx": 0, "end_idx": 4}) == "# ^ LOC ^ Busan # is home to @ * PER * Minjun @."
    summary = run(_cfg(tmp_path, task="relation", data="builtin:relations?n=900", text_column="sentence",
                       eval_data="builtin:relations?n=300&seed=1", max_steps=300))
    rows = _predictions(tmp_path / "run")
    majority = max(Counter(r["label"] for r in rows).values()) / len(rows)
    # the entity types do not decide the label (no_relation pairs the same types): the words between do
    assert summary["metric"] == "micro_f1" and summary["accuracy"] > majority + 0.3 and summary["micro_f1"] > 0.6
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    assert set(model.config.id2label.values()) == {"per:place_of_residence", "per:title", "no_relation"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sentence": "Minjun lives in Busan.", "subject_entity": subject,
                               "object_entity": {**obj, "end_idx": 21}, "label": "no_relation"}) + "\n",
                   encoding="utf-8")
    with pytest.raises(LmlearnError, match=r"bad.jsonl:1: object_entity span 16-21 is 'Busan\.', not its word"):
        run(_cfg(tmp_path, task="relation", data=str(bad), text_column="sentence",
                 eval_data="builtin:relations?n=30&seed=1", out=str(tmp_path / "bad")))
