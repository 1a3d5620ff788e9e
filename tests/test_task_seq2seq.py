"""The text-to-text task (seq2seq) and the multi-task mixture: labels, learning, per-task scores, the
examples-proportional cap, and the errors a user meets before any model loads."""

import json
import random

import pytest
import torch

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.data.sources import ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.tasks.metrics import bleu_chrf, rouge_scores
from lmlearn.tasks.mixture import load_mixture, read_mixture
from lmlearn.tasks.seq2seq import Seq2Seq

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ("apple river stone cloud tiger lemon piano candle forest rocket violet summer window garden silver "
         "dragon").split()
GOOD, BAD = ["great", "lovely", "superb", "fine"], ["awful", "boring", "dull", "bad"]


def copy_rows(n, seed):
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        text = " ".join(r.choices(WORDS, k=r.randint(2, 4)))
        rows.append({"source": text, "target": text})
    return rows


def sentiment_rows(n, seed):
    """A review of filler words and one opinion word; the label is the opinion's polarity."""
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        label = r.randint(0, 1)
        words = r.choices(WORDS, k=2) + [r.choice(GOOD if label else BAD)]
        r.shuffle(words)
        rows.append({"review": " ".join(words), "label": label})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def finetune(tmp_path, name, **settings):
    # lmlearn's unigram trainer gives a character-level vocabulary on a corpus this small; BPE keeps
    # each word one token, so copying is learnt in a couple of hundred steps.
    base = dict(task="seq2seq", vocab_size=1000, tokenizer_kind="bpe", batch_size=16, lr=3e-3, warmup_steps=10,
                eval_every=0, max_target_length=8, out=str(tmp_path / name), progress=False)
    return run(FinetuneConfig(**{**base, **settings}))


def read_predictions(out):
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_labels_are_the_target_tokens_then_minus_100_exactly_on_padding(family):
    from lmlearn.tokenization import train_tokenizer

    tokenizer = train_tokenizer([r["source"] for r in copy_rows(200, 0)], family=family, vocab_size=1000)
    cfg = FinetuneConfig(task="seq2seq", model=f"{family}-tiny")
    task = Seq2Seq(cfg, tokenizer)
    rows = [{"source": "apple river", "target": "tiger"}, {"source": "stone", "target": "cloud lemon piano candle"}]
    examples = task.prepare(rows, what="test rows")
    batch = task.collate(examples, torch.Generator())
    for i, row in enumerate(rows):
        target = tokenizer(row["target"])["input_ids"]
        assert target[-1] == tokenizer.eos_token_id  # the decoder learns where to stop
        assert batch["labels"][i, :len(target)].tolist() == target
        assert (batch["labels"][i, len(target):] == -100).all()
        assert batch["attention_mask"][i].sum() == len(tokenizer(row["source"])["input_ids"])
    assert (batch["labels"] == -100).sum() == batch["labels"].shape[1] * 2 - sum(len(e["labels"]) for e in examples)
    assert batch["labels"].is_contiguous() and task.loss(task.build_model(cfg.model, 0), batch).isfinite()


def test_copy_task_learns_far_above_the_untrained_model_and_a_constant_guess(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", copy_rows(400, 0))
    test = write_jsonl(tmp_path / "test.jsonl", copy_rows(32, 1))
    untrained = finetune(tmp_path, "untrained", model="t5-tiny", data=data, eval_data=test, max_steps=0)
    trained = finetune(tmp_path, "trained", model="t5-tiny", data=data, eval_data=test, max_steps=200)
    references = [r["target"] for r in copy_rows(32, 1)]
    guess = ["apple river stone"] * 32  # a constant answer: what a model that ignores the source can reach
    constant = {**rouge_scores(guess, references), **bleu_chrf(guess, references)}
    assert trained["metric"] == "rougeL"
    for key in ("rougeL", "chrf"):
        assert trained[key] > max(untrained[key], constant[key]) + 30, (key, trained, untrained, constant)
    rows = read_predictions(tmp_path / "trained")
    assert [r["target"] for r in rows] == references and all(isinstance(r["prediction"], str) for r in rows)
    assert not {"_where", "text"} & set(rows[0])


def test_bart_trains_end_to_end(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", copy_rows(200, 0))
    test = write_jsonl(tmp_path / "test.jsonl", copy_rows(16, 1))
    summary = finetune(tmp_path, "bart", model="bart-tiny", data=data, eval_data=test, max_steps=40, lr=1e-3,
                       seq2seq_metrics="chrf,rouge")
    assert summary["metric"] == "chrf" and {"bleu", "chrf", "rougeL"} <= set(summary)
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1
    assert len(read_predictions(tmp_path / "bart")) == 16 and (tmp_path / "bart" / "model" / "config.json").is_file()


def write_mixture(tmp_path, text):
    path = tmp_path / "mixture.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def mixture_cfg(path, **settings):
    return FinetuneConfig(task="seq2seq", model="t5-tiny", mixture=path, **settings)


def test_mixture_trains_one_model_with_per_task_scores_and_predictions(tmp_path):
    write_jsonl(tmp_path / "reviews.jsonl", sentiment_rows(300, 0))
    write_jsonl(tmp_path / "reviews_test.jsonl", sentiment_rows(24, 1))
    write_jsonl(tmp_path / "copy.jsonl", copy_rows(300, 2))
    path = write_mixture(tmp_path, """\
- name: sentiment
  data: reviews.jsonl
  eval_data: reviews_test.jsonl
  prefix: "sentiment: "
  source_column: review
  target_column: label
  target_map: {0: negative, 1: positive}
- name: copy
  data: copy.jsonl
  prefix: "copy: "
  max_examples: 150
""")
    summary = finetune(tmp_path, "mix", model="t5-tiny", mixture=path, eval_fraction=0.1, max_steps=200)
    # Examples-proportional with the cap: all 300 reviews, 150 of the 270 copy rows left after the split.
    assert summary["train_examples"] == 300 + 150 and summary["test_examples"] == 24 + 30
    assert summary["metric"] == "average"
    assert {"sentiment/accuracy", "sentiment/macro_f1", "copy/rougeL", "copy/bleu", "copy/chrf"} <= set(summary)
    assert summary["sentiment/accuracy"] > 0.75  # chance is 0.5
    assert summary["average"] == pytest.approx((100 * summary["sentiment/accuracy"] + summary["copy/rougeL"]) / 2)
    rows = read_predictions(tmp_path / "mix")
    assert [r["task"] for r in rows] == ["sentiment"] * 24 + ["copy"] * 30
    assert {r["target"] for r in rows if r["task"] == "sentiment"} == {"negative", "positive"}
    assert all(r["source"].startswith(f"{r['task']}: ") for r in rows)


def test_mixture_sample_is_capped_seeded_and_weighted(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", copy_rows(100, 0))
    write_jsonl(tmp_path / "b.jsonl", copy_rows(40, 1))
    path = write_mixture(tmp_path, "- {name: a, data: a.jsonl, eval_data: b.jsonl, max_examples: 30}\n"
                                   "- {name: b, data: b.jsonl, eval_data: a.jsonl, weight: 2.5}\n")

    def mix(seed):
        cfg = mixture_cfg(path, seed=seed)
        train, test = read_mixture(load_mixture(path, cfg), cfg, ReadReport())
        return train.to_list(), test

    train, test = mix(0)
    a = [r["source"] for r in train if r["task"] == "a"]
    b = [r["source"] for r in train if r["task"] == "b"]
    assert len(a) == 30 and len(set(a)) == len(set(a) & {r["source"] for r in copy_rows(100, 0)})
    # weight 2.5 × 40 rows: every row once before any row repeats
    assert len(b) == 100 and sorted(b[:40]) == sorted(r["source"] for r in copy_rows(40, 1))
    assert len(test) == 40 + 100  # test rows are never capped
    assert mix(0)[0] == train and [r["source"] for r in mix(1)[0] if r["task"] == "a"] != a


@pytest.mark.parametrize("text,message", [
    ("- name: a\n  data: a.jsonl\n  prefx: 'a: '\n", r"mixture.yaml:3: unknown key 'prefx'; did you mean prefix"),
    ("- name: a\n  data: a.jsonl\n  max_examples: lots\n", r"mixture.yaml:3: 'max_examples' must be int"),
    ("- name: a\n  data: a.jsonl\n  metrics: rouge,meteor\n", r"mixture.yaml:3: unknown metric 'meteor'"),
    ("- name: a\n  data: a.jsonl\n- name: a\n  data: a.jsonl\n", r"mixture.yaml:3: task name 'a' is used twice"),
    ("- name: a\n  prefix: 'a: '\n", r"mixture.yaml:1: the task has no 'data'"),
    ("name: a\ndata: a.jsonl\n", r"mixture.yaml: a mixture file is a non-empty list"),
])
def test_bad_mixture_files_name_file_and_line(tmp_path, text, message):
    path = write_mixture(tmp_path, text)
    with pytest.raises(LmlearnError, match=message):
        Seq2Seq(mixture_cfg(path))


@pytest.mark.parametrize("entry,message", [
    ("data: missing.jsonl", r"mixture.yaml:2: task 'a': data file not found: missing.jsonl"),
    ("data: a.jsonl\n  source_column: text", r"mixture.yaml:2: task 'a': .*a.jsonl:1: missing field 'text'"),
    ("data: a.jsonl\n  target_map: {x: y}", r"a.jsonl:1: target '.*' is not in the target_map of task 'a' "
                                            r"\(.*mixture.yaml:3\)"),
])
def test_mixture_data_errors_name_the_task_and_the_file(tmp_path, entry, message):
    write_jsonl(tmp_path / "a.jsonl", copy_rows(10, 0))
    cfg = mixture_cfg(write_mixture(tmp_path, f"- name: a\n  {entry}\n"))
    with pytest.raises(LmlearnError, match=message):
        read_mixture(load_mixture(cfg.mixture, cfg), cfg, ReadReport())


def test_wrong_family_and_wrong_task_are_refused_before_reading(tmp_path):
    missing = str(tmp_path / "never-read.jsonl")
    settings = dict(model="bert-tiny", data=missing, out=str(tmp_path / "run"), progress=False)
    with pytest.raises(LmlearnError, match=r"task 'seq2seq' does not fit a bert model .*supports: bart, t5"):
        run(FinetuneConfig(task="seq2seq", **settings))
    with pytest.raises(LmlearnError, match=r"--mixture .* use it with --task seq2seq, not --task classify"):
        run(FinetuneConfig(task="classify", mixture=missing, **settings))
    with pytest.raises(LmlearnError, match=r"--seq2seq-metrics: unknown metric 'blue'"):
        Seq2Seq(FinetuneConfig(task="seq2seq", seq2seq_metrics="rouge,blue"))
