"""The qa task: SQuAD/KorQuAD files, answer positions in overlapping windows, one answer per question,
bad data, KorQuAD scoring, and end-to-end training that finds answers."""

import json
import random
from types import SimpleNamespace

import datasets
import pytest
import torch

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.data.sources import ReadReport
from lmlearn.errors import LmlearnError
from lmlearn.tasks.metrics import squad_scores
from lmlearn.tasks.qa import ExtractiveQA
from lmlearn.tokenization import train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["john", "mary", "peter", "anna", "david", "laura", "james", "emma", "oliver", "sophie"]
CITIES = ["paris", "berlin", "london", "madrid", "rome", "vienna", "oslo", "lisbon"]
FILLERS = ["the sky was grey that morning .", "many people like strong coffee .", "the museum opens at nine .",
           "trains are often late in winter .", "a dog barked outside the house .", "the market sells fruit ."]


def _row(rng, i, slot=None):
    """A context of filler sentences around one fact; the question asks for its person (or, with
    slot="city", for its city)."""
    name, city = rng.choice(NAMES), rng.choice(CITIES)
    sentences = rng.sample(FILLERS, rng.randint(1, 5))
    sentences.insert(rng.randint(0, len(sentences)), f"{name} moved to {city} last year .")
    context = " ".join(sentences)
    fact = context.index(f"{name} moved")
    if slot == "city":
        question, answer, start = f"where did {name} move ?", city, fact + len(f"{name} moved to ")
    else:
        question, answer, start = f"who moved to {city} ?", name, fact
    return {"id": f"q{i}", "context": context, "question": question,
            "answers": {"text": [answer], "answer_start": [start]}}


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _cfg(tmp_path, **kw):
    settings = dict(task="qa", model="bert-tiny", vocab_size=1000, max_steps=80, batch_size=16, lr=2e-3,
                    warmup_steps=10, eval_every=0, eval_batches=2, out=str(tmp_path / "run"), progress=False)
    settings.update(kw)
    return FinetuneConfig(**settings)


def _task(tokenizer, **kw):
    cfg = SimpleNamespace(**{**dict(context_column="context", question_column="question", answers_column="answers",
                                    qa_rules="squad", doc_stride=8, max_answer_length=30, block_size=32,
                                    text_column="text", txt_unit="line", on_bad_rows="error"), **kw})
    return ExtractiveQA(cfg, tokenizer)


@pytest.fixture(scope="module")
def tokenizer():
    rng = random.Random(0)
    rows = [_row(rng, i) for i in range(200)]
    return train_tokenizer([f"{r['question']} {r['context']}" for r in rows], family="bert", vocab_size=300)


# --- reading ---------------------------------------------------------------------------------

SQUAD = {"version": "1.1", "data": [
    {"title": "Cities", "paragraphs": [
        {"context": "Paris is the capital of France.",
         "qas": [{"id": "a1", "question": "What is the capital of France?",
                  "answers": [{"text": "Paris", "answer_start": 0}, {"text": "Paris", "answer_start": 0}]},
                 {"id": "a2", "question": "Paris is the capital of which country?",
                  "answers": [{"text": "France", "answer_start": 24}]}]}]},
    {"title": "서울", "paragraphs": [
        {"context": "서울특별시는 대한민국의 수도이다.",
         "qas": [{"id": "k1", "question": "대한민국의 수도는?", "answers": [{"text": "서울특별시", "answer_start": 0}]}]}]},
]}


def _read(tmp_path, name, content, **kw):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False), encoding="utf-8")
    task = ExtractiveQA(_cfg(tmp_path, **kw))
    return task, task.read(str(path), what="training data", report=ReadReport()), path


def test_squad_json_is_flattened_to_one_row_per_question(tmp_path):
    task, ds, path = _read(tmp_path, "squad.json", SQUAD)
    assert ds["id"] == ["a1", "a2", "k1"] and ds["title"] == ["Cities", "Cities", "서울"]
    assert ds["question"][1] == "Paris is the capital of which country?"
    assert ds["context"][2] == "서울특별시는 대한민국의 수도이다."
    assert ds["answers"][0] == {"text": ["Paris", "Paris"], "answer_start": [0, 0]}
    assert ds["_where"][2] == f"{path}: question k1"
    assert list(task.tokenizer_texts(ds))[:1] == ["What is the capital of France?"]


def test_an_answer_not_at_its_answer_start_names_the_question(tmp_path, tokenizer):
    broken = json.loads(json.dumps(SQUAD))
    broken["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 20
    task, ds, path = _read(tmp_path, "squad.json", broken)
    task = ExtractiveQA(task.cfg, tokenizer)
    with pytest.raises(LmlearnError, match=rf"{path}: question a2: answer 'France' is not at answer_start 20"):
        task.prepare(ds, what="training data")


def test_an_empty_text_or_a_missing_column_names_file_and_line(tmp_path, tokenizer):
    rows = [_row(random.Random(1), 0), {**_row(random.Random(2), 1), "question": "  "}]
    with pytest.raises(LmlearnError, match=r"train.jsonl:2: field 'question' is empty"):
        _read(tmp_path, "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    rows[1]["question"] = "who moved ?"
    del rows[1]["answers"]
    with pytest.raises(LmlearnError, match=r"train.jsonl:2: missing field 'answers'"):
        _read(tmp_path, "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    squad = json.loads(json.dumps(SQUAD))
    squad["data"][1]["paragraphs"][0]["context"] = ""
    with pytest.raises(LmlearnError, match=r"squad.json: question k1: no context"):
        _read(tmp_path, "squad.json", squad)


def test_a_question_that_leaves_no_room_for_the_context_names_the_row(tmp_path, tokenizer):
    row = _row(random.Random(3), 0)
    row["question"] = " ".join(["who"] * 30) + " ?"
    task = _task(tokenizer, block_size=32, doc_stride=8)
    with pytest.raises(LmlearnError, match=r"rows: the question takes \d+ tokens, leaving -?\d+ of --block-size 32"):
        task.prepare(datasets.Dataset.from_list([row]), what="rows")


# --- windows and prediction ------------------------------------------------------------------------

def test_long_contexts_become_windows_that_locate_the_answer_or_point_at_cls(tokenizer):
    rng = random.Random(4)
    rows = [_row(rng, i, slot=["name", "city"][i % 2]) for i in range(20)]
    task = _task(tokenizer, block_size=32, doc_stride=8)
    examples = task.prepare(datasets.Dataset.from_list(rows), what="rows")
    cls = tokenizer.cls_token_id
    assert [e["row"] for e in examples] == sorted(e["row"] for e in examples)
    assert len(examples) > len(rows) and len({e["row"] for e in examples}) == len(rows)
    found = set()
    for e in examples:
        assert len(e["input_ids"]) <= 32
        start, end = e["start_positions"], e["end_positions"]
        if e["input_ids"][start] == cls:
            assert start == end == 0
            continue
        span = e["context"][e["offsets"][start][0]:e["offsets"][end][1]].strip()
        assert span == rows[e["row"]]["answers"]["text"][0]
        found.add(e["row"])
    assert found == set(range(len(rows)))  # every answer lies whole in at least one window


class _Random(torch.nn.Module):
    """A stand-in QA model with random start and end logits."""

    def forward(self, input_ids, **_):
        g = torch.Generator().manual_seed(int(input_ids.sum()))
        return SimpleNamespace(start_logits=torch.randn(input_ids.shape, generator=g),
                               end_logits=torch.randn(input_ids.shape, generator=g))


def test_prediction_is_one_context_span_per_question(tokenizer):
    rng = random.Random(5)
    rows = [_row(rng, i) for i in range(12)]
    task = _task(tokenizer, block_size=32, doc_stride=8, max_answer_length=3)
    examples = task.prepare(datasets.Dataset.from_list(rows), what="rows")
    predictions = task.predict(_Random(), examples, batch_size=5)
    assert len(predictions) == len(rows) < len(examples)
    for row, answer in zip(rows, predictions):
        # a WordPiece token lies inside one word, so three tokens reach into at most three words
        assert answer in row["context"] and len(answer.split()) <= 3


# --- scores -------------------------------------------------------------------------------------

def test_korquad_rules_score_a_korean_particle_by_characters(tmp_path):
    _, ds, _ = _read(tmp_path, "squad.json", SQUAD)
    predictions = ["Paris", "the country France", "서울특별시는"]
    squad = ExtractiveQA(_cfg(tmp_path)).score(ds, predictions)
    korquad = ExtractiveQA(_cfg(tmp_path, qa_rules="korquad")).score(ds, predictions)
    # SQuAD drops "the" and matches words: "country france" has 1 of 2 words right, "서울특별시는" none.
    assert squad["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    # KorQuAD keeps articles and matches characters: 6 of 16, and 5 of 6 for the particle 는
    assert korquad["f1"] == pytest.approx(100 * (1 + 12 / 22 + 10 / 11) / 3)
    assert korquad["exact_match"] == squad["exact_match"] == pytest.approx(100 / 3)


# --- end to end ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A bert-tiny fine-tuned for QA: (folder of the run, its rows, its summary)."""
    tmp_path = tmp_path_factory.mktemp("qa")
    rng = random.Random(6)
    rows = [_row(rng, i) for i in range(560)]
    # 32-token windows: the longer contexts span several, and only one of them holds the answer
    summary = run(_cfg(tmp_path, data=_jsonl(tmp_path / "train.jsonl", rows[:480]),
                       eval_data=_jsonl(tmp_path / "test.jsonl", rows[480:]), block_size=32, doc_stride=12))
    return tmp_path, rows, summary


def test_qa_learns_to_extract_the_asked_slot(trained):
    tmp_path, rows, summary = trained
    lines = (tmp_path / "run" / "predictions.jsonl").read_text("utf-8").splitlines()
    predictions = [json.loads(line) for line in lines]
    assert len(predictions) == 80 and summary["test_examples"] > 80  # windows, not questions
    assert [p["id"] for p in predictions] == [r["id"] for r in rows[480:]] and "text" not in predictions[0]
    # a random span of these contexts is rarely exactly the one-word answer
    assert summary["metric"] == "f1" and summary["exact_match"] > 60
    scores = squad_scores([p["prediction"] for p in predictions], [p["answers"]["text"] for p in predictions])
    assert summary["exact_match"] == pytest.approx(scores["exact_match"])


def test_a_finetuned_qa_model_distils_into_one_layer_on_start_and_end_distributions(trained, tmp_path):
    """Task distillation of the QA head: the soft loss over answer starts and ends falls, both models are scored
    on the same questions, and the student loads as AutoModelForQuestionAnswering."""
    from transformers import AutoModelForQuestionAnswering

    from lmlearn.engine.metrics import read_metrics
    from lmlearn.workflows.distill import DistillConfig, run as distill

    folder, _, teacher_summary = trained
    summary = distill(DistillConfig(
        method="kd", task="qa", teacher=str(folder / "run" / "model"), data=str(folder / "train.jsonl"),
        eval_data=str(folder / "test.jsonl"), block_size=32, doc_stride=12, max_steps=40, batch_size=16,
        lr=2e-3, warmup_steps=0, log_every=1, eval_every=0, out=str(tmp_path / "s"), progress=False))
    rows = read_metrics(tmp_path / "s" / "metrics.jsonl")
    mean = lambda part: sum(r["kl"] for r in part) / len(part)  # noqa: E731
    assert all({"kl", "ce"} <= set(r) for r in rows) and len(rows) >= 10 and mean(rows[-5:]) < mean(rows[:5])
    assert summary["metric"] == "f1" and summary["teacher_f1"] == pytest.approx(teacher_summary["f1"])
    assert summary["student_share"] == pytest.approx(summary["student_f1"] / summary["teacher_f1"], abs=1e-4)
    student = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "s" / "model")
    assert student.config.num_hidden_layers == 1 and summary["size_ratio"] < 1


def test_qa_soft_targets_leave_padding_out_and_vanish_for_the_teacher_itself():
    from types import SimpleNamespace

    from lmlearn.distill.losses import soft_kl
    from lmlearn.distill.task import TaskDistillation, mean_loss

    method = object.__new__(TaskDistillation)
    torch.manual_seed(0)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 6:] = 0
    teacher = SimpleNamespace(start_logits=torch.randn(3, 10), end_logits=torch.randn(3, 10))
    student = SimpleNamespace(start_logits=torch.randn(3, 10), end_logits=torch.randn(3, 10))
    batch = {"attention_mask": mask, "start_positions": torch.zeros(3), "end_positions": torch.zeros(3)}
    kl = mean_loss(soft_kl, method.soft_pairs(student, teacher, batch), 2.0)
    assert mean_loss(soft_kl, method.soft_pairs(teacher, teacher, batch), 2.0).item() == pytest.approx(0, abs=1e-6)
    student.start_logits[1, 6:] += 100.0  # padding: the student's scores there count for nothing
    assert mean_loss(soft_kl, method.soft_pairs(student, teacher, batch), 2.0).item() == pytest.approx(kl.item())
    by_hand = sum(soft_kl(s[r:r + 1, :int(mask[r].sum())], t[r:r + 1, :int(mask[r].sum())], 2.0)
                  for s, t in ((student.start_logits, teacher.start_logits), (student.end_logits, teacher.end_logits))
                  for r in range(3)) / 6
    assert kl.item() == pytest.approx(by_hand.item(), rel=1e-5)
