"""Knowledge distillation: the losses' defining properties, the student made from its teacher, and
`lmlearn distill` end to end for DistilBERT, TinyBERT and KD."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from lmlearn import cli
from lmlearn.distill.losses import forward_kl, generalized_jsd, reverse_kl, soft_kl
from lmlearn.distill.student import check_vocabularies, layer_stack, student_from_teacher
from lmlearn.engine.metrics import read_metrics
from lmlearn.errors import LmlearnError

DATA = "builtin:corpus?docs=400"


def _kl_by_hand(p_logits, q_logits):
    p, q = F.softmax(p_logits, -1), F.softmax(q_logits, -1)
    return float((p * (p.log() - q.log())).sum(-1).mean())


def test_identical_logits_give_zero_for_every_divergence():
    logits = torch.randn(6, 11)
    for loss in (soft_kl(logits, logits, 2.0), forward_kl(logits, logits), reverse_kl(logits, logits),
                 generalized_jsd(logits, logits, 0.5)):
        assert abs(float(loss)) < 1e-6


def test_soft_loss_is_t_squared_times_the_kl_of_the_softened_distributions():
    student, teacher = torch.randn(5, 9), torch.randn(5, 9)
    for t in (1.0, 2.0, 4.0):
        assert float(soft_kl(student, teacher, t)) == pytest.approx(t * t * _kl_by_hand(teacher / t, student / t),
                                                                    rel=1e-5)


def test_jsd_ends_are_forward_and_reverse_kl_and_its_middle_is_the_jensen_shannon_divergence():
    student, teacher = torch.randn(7, 13), torch.randn(7, 13)
    assert float(generalized_jsd(student, teacher, 0.0)) == pytest.approx(_kl_by_hand(teacher, student), rel=1e-5)
    assert float(generalized_jsd(student, teacher, 1.0)) == pytest.approx(_kl_by_hand(student, teacher), rel=1e-5)
    p, q = F.softmax(teacher, -1), F.softmax(student, -1)
    m = 0.5 * (p + q)
    js = 0.5 * (p * (p / m).log()).sum(-1) + 0.5 * (q * (q / m).log()).sum(-1)
    assert float(generalized_jsd(student, teacher, 0.5)) == pytest.approx(float(js.mean()), rel=1e-5)
    assert 0 < float(generalized_jsd(student, teacher, 0.5)) < math.log(2)  # JSD's bound


def _tiny(family, head):
    from lmlearn.models.factory import build_model
    from lmlearn.models.presets import build_config

    class Tok:
        pad_token_id, bos_token_id, eos_token_id, cls_token_id, sep_token_id = 0, 1, 2, 1, 2

        def __len__(self):
            return 97

    config = build_config(f"{family}-tiny", Tok())
    config.num_hidden_layers = 4  # GPT-2's n_layer answers to this name too
    return build_model(config, head, seed=0)


@pytest.mark.parametrize("family,head", [("bert", "masked-lm"), ("gpt2", "causal-lm"), ("llama", "causal-lm")])
def test_the_student_starts_as_the_teachers_chosen_layers_bit_for_bit(family, head):
    teacher = _tiny(family, head)
    student = student_from_teacher(teacher, [0, 3])
    (_, t_layers), (_, s_layers) = layer_stack(teacher), layer_stack(student)
    assert len(s_layers) == 2
    for mine, theirs in ((s_layers[0], t_layers[0]), (s_layers[1], t_layers[3])):
        for (n, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(a, b), n
    t_rest = {k: v for k, v in teacher.state_dict().items() if not k.startswith(layer_stack(teacher)[0] + ".")}
    s_state = student.state_dict()
    assert all(torch.equal(v, s_state[k]) for k, v in t_rest.items())
    assert student.get_input_embeddings().weight.data_ptr() != teacher.get_input_embeddings().weight.data_ptr()


def test_a_vocabulary_mismatch_is_refused():
    teacher = _tiny("gpt2", "causal-lm")
    other = student_from_teacher(teacher, [0])
    other.resize_token_embeddings(120)
    with pytest.raises(LmlearnError, match="vocabularies differ \\(97 and 120 embeddings\\)"):
        check_vocabularies(teacher, other, None, None)


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """A tiny BERT (masked LM) and GPT-2 teacher, each with a tokenizer, briefly pre-trained."""
    root = tmp_path_factory.mktemp("teachers")
    for objective, preset in (("mlm", "bert-tiny"), ("clm", "gpt2-tiny")):
        assert cli.main(["pretrain", "--objective", objective, "--model", preset, "--data", DATA, "--vocab-size",
                         "1500", "--block-size", "64", "--batch-size", "8", "--max-steps", "60", "--lr", "3e-3",
                         "--eval-every", "0", "--out", str(root / objective), "--no-progress"]) == 0
    return {"mlm": root / "mlm" / "model", "clm": root / "clm" / "model"}


def _distill(teacher, out, *flags):
    assert cli.main(["distill", "--teacher", str(teacher), "--data", DATA, "--block-size", "64", "--batch-size", "8",
                     "--lr", "3e-3", "--warmup-steps", "0", "--log-every", "1", "--eval-every", "10",
                     "--out", str(out), "--no-progress", *flags]) == 0
    return json.loads((out / "summary.json").read_text()), read_metrics(out / "metrics.jsonl")


def test_distilbert_logs_its_three_terms_and_the_student_loads_with_the_auto_class(teachers, tmp_path):
    from transformers import AutoModelForMaskedLM

    summary, rows = _distill(teachers["mlm"], tmp_path / "s", "--method", "distilbert", "--max-steps", "20")
    assert all({"ce", "mlm", "cos"} <= set(r) for r in rows)
    assert rows[0]["loss"] == pytest.approx(5 * rows[0]["ce"] + 2 * rows[0]["mlm"] + rows[0]["cos"], rel=1e-5)
    assert summary["student_parameters"] < summary["teacher_parameters"] and summary["speedup"] > 0
    student = AutoModelForMaskedLM.from_pretrained(tmp_path / "s" / "model")
    assert student.config.num_hidden_layers == 1  # every other layer of the 2-layer teacher


def test_tinybert_projection_learns_the_teachers_states(teachers, tmp_path):
    summary, rows = _distill(teachers["mlm"], tmp_path / "s", "--method", "tinybert", "--student", "bert-tiny",
                             "--max-steps", "40")
    assert all({"att", "hidden", "emb"} <= set(r) for r in rows)
    first, last = rows[0], rows[-1]
    assert last["hidden"] < 0.5 * first["hidden"] and last["emb"] < 0.5 * first["emb"]
    assert summary["student_parameters"] > 0


@pytest.mark.parametrize("divergence", ["forward", "reverse", "jsd"])
def test_kd_for_causal_lms_lowers_its_divergence(teachers, tmp_path, divergence):
    summary, rows = _distill(teachers["clm"], tmp_path / "s", "--method", "kd", "--divergence", divergence,
                             "--max-steps", "30", "--on-policy", "0.5" if divergence == "jsd" else "0")
    assert _mean(rows[-5:], "kl") < _mean(rows[:5], "kl")  # five logged steps each: one batch is noisy
    assert summary["eval_loss"] < summary["initial_eval_loss"]


CLASSIFY_DATA, CLASSIFY_TEST = "builtin:sentiment?n=300&seed=1", "builtin:sentiment?n=100&seed=2"


@pytest.fixture(scope="module")
def classifier(teachers, tmp_path_factory):
    """The masked-LM teacher fine-tuned as a sentiment classifier."""
    out = tmp_path_factory.mktemp("classifier")
    assert cli.main(["finetune", "--task", "classify", "--model", str(teachers["mlm"]), "--data", CLASSIFY_DATA,
                     "--eval-data", CLASSIFY_TEST, "--max-steps", "60", "--batch-size", "16", "--lr", "1e-3",
                     "--eval-every", "0", "--out", str(out), "--no-progress"]) == 0
    return out / "model"


def test_a_finetuned_classifier_distils_into_half_its_layers_and_the_student_predicts_what_was_reported(
        classifier, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    data, test = CLASSIFY_DATA, CLASSIFY_TEST
    summary, rows = _distill(classifier, tmp_path / "s", "--method", "kd", "--task",
                             "classify", "--alpha-hard", "1", "--max-steps", "40", "--data", data,
                             "--eval-data", test, "--block-size", "128")
    assert all({"kl", "ce"} <= set(r) for r in rows)
    assert {"teacher_accuracy", "student_accuracy", "student_share"} <= set(summary)
    assert summary["student_share"] == pytest.approx(summary["student_accuracy"] / summary["teacher_accuracy"],
                                                     abs=1e-4)
    predictions = [json.loads(line) for line in (tmp_path / "s" / "predictions.jsonl").read_text().splitlines()]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "s" / "model").eval()
    assert model.config.num_hidden_layers == 1
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "s" / "model")
    batch = tokenizer([r["text"] for r in predictions], padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
    with torch.no_grad():
        ids = model(**batch).logits.argmax(-1).tolist()
    assert [model.config.id2label[i] for i in ids] == [r["prediction"] for r in predictions]
    correct = sum(r["prediction"] == str(r["label"]) for r in predictions) / len(predictions)
    assert summary["student_accuracy"] == pytest.approx(correct) and summary["predict_sec_per_doc"] > 0


def _task_step(method_class, student, teacher, **settings):
    """One step of a task-distillation method on a classification batch, both models in eval mode."""
    from types import SimpleNamespace

    from lmlearn.engine.method import Models

    cfg = SimpleNamespace(temperature=2.0, alpha_hard=1.0, alpha_ce=5.0, alpha_cos=1.0, **settings)
    method = object.__new__(method_class)
    method.cfg = cfg
    trained = method.trainable(student, teacher) if hasattr(method, "trainable") else student
    torch.manual_seed(0)
    batch = {"input_ids": torch.randint(5, 90, (4, 12)), "attention_mask": torch.ones(4, 12, dtype=torch.long),
             "labels": torch.tensor([0, 1, 1, 0])}
    batch["attention_mask"][0, 8:] = 0
    return method.step(Models(trained.eval(), {"teacher": teacher.eval()}), batch)


def test_task_distilbert_soft_and_cosine_terms_vanish_when_the_student_is_the_teacher():
    from lmlearn.distill.distilbert import TaskDistilBERT

    teacher = _tiny("bert", "sequence-classification")
    student = student_from_teacher(teacher, [0, 1, 2, 3])  # every layer: the teacher itself
    out = _task_step(TaskDistilBERT, student, teacher)
    assert out.metrics["ce"] == pytest.approx(0.0, abs=1e-6) and out.metrics["cos"] == pytest.approx(0.0, abs=1e-6)
    m = {k: v.item() for k, v in out.metrics.items()}
    assert out.loss.item() == pytest.approx(5 * m["ce"] + m["hard"] + m["cos"], rel=1e-6)
    other = student_from_teacher(teacher, [1, 3])
    assert _task_step(TaskDistilBERT, other, teacher).metrics["cos"] > 1e-5  # the term can be non-zero


def test_task_tinybert_attention_term_vanishes_for_a_copy_and_its_prediction_stage_is_soft_cross_entropy():
    from lmlearn.distill.losses import soft_cross_entropy
    from lmlearn.distill.tinybert import TaskTinyBERT

    teacher = _tiny("bert", "sequence-classification")
    out = _task_step(TaskTinyBERT, student_from_teacher(teacher, [0, 1, 2, 3]), teacher,
                     tinybert_stage="intermediate")
    assert out.metrics["att"] == pytest.approx(0.0, abs=1e-8) and out.metrics["hidden"] > 0  # projection untrained
    half = student_from_teacher(teacher, [1, 3])
    out = _task_step(TaskTinyBERT, half, teacher, tinybert_stage="prediction")
    torch.manual_seed(0)
    ids = torch.randint(5, 90, (4, 12))
    mask = torch.ones(4, 12, dtype=torch.long)
    mask[0, 8:] = 0
    with torch.no_grad():
        expected = soft_cross_entropy(half(input_ids=ids, attention_mask=mask).logits,
                                      teacher(input_ids=ids, attention_mask=mask).logits, 2.0)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def _mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


def test_tinybert_task_stages_run_in_turn_on_a_finetuned_classifier(classifier, tmp_path):
    """The paper's task distillation: the intermediate stage on task batches (its projection learns), then the
    prediction stage from that student; the student loads with the Auto class."""
    from transformers import AutoModelForSequenceClassification

    common = ("--task", "classify", "--data", CLASSIFY_DATA, "--eval-data", CLASSIFY_TEST, "--block-size", "128")
    _, rows = _distill(classifier, tmp_path / "mid", "--method", "tinybert", "--max-steps", "40", *common)
    assert all({"att", "hidden", "emb"} <= set(r) for r in rows)
    assert _mean(rows[-5:], "hidden") < 0.5 * _mean(rows[:5], "hidden")
    summary, rows = _distill(classifier, tmp_path / "pred", "--method", "tinybert", "--tinybert-stage",
                             "prediction", "--student", str(tmp_path / "mid" / "model"), "--max-steps", "30", *common)
    assert all("pred" in r for r in rows) and _mean(rows[-5:], "pred") < _mean(rows[:5], "pred")  # not one batch
    assert summary["student_accuracy"] is not None and summary["size_ratio"] < 1
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "pred" / "model").config.num_hidden_layers == 1


def test_task_distillation_samples_the_labelled_rows_finetune_samples(classifier, tmp_path):
    """--train-examples N draws the same N rows with --seed in distill as in finetune (the comparison harness
    pairs a distilled arm with fine-tuned ones at one labelled-set size); a language model refuses it."""
    from lmlearn.data.sources import load_source
    from lmlearn.driver import labelled_sample

    rows = load_source(CLASSIFY_DATA, required=["text"])
    first, again = labelled_sample(rows, 40, 3), labelled_sample(rows, 40, 3)
    assert first["text"] == again["text"] and first["text"] != labelled_sample(rows, 40, 4)["text"]
    summary, _ = _distill(classifier, tmp_path / "kd", "--method", "distilbert", "--task", "classify", "--data",
                          CLASSIFY_DATA, "--eval-data", CLASSIFY_TEST, "--train-examples", "40", "--seed", "3",
                          "--max-steps", "5", "--block-size", "128")
    assert summary["train_examples"] == 40
    from lmlearn.workflows.distill import DistillConfig, run

    with pytest.raises(LmlearnError, match="goes with --task"):
        run(DistillConfig(teacher=str(classifier), data=CLASSIFY_DATA, train_examples=40,
                          out=str(tmp_path / "lm")))


def test_augmentation_replaces_one_token_words_with_the_masked_lms_top_k(teachers):
    """TinyBERT's augmentation: a word that is one token is replaced (with probability p) by one of the masked
    LM's top K for that word masked in the original sentence; other words stay; p = 0 changes nothing."""
    import random

    from lmlearn.distill.augment import WordCandidates, augment_text

    lm = WordCandidates(str(teachers["mlm"]), k=4)
    text = "the weather was cold and the city was quiet in the morning"
    found = lm.of(text)
    words = text.split()
    assert found and all(len(c) == 4 for *_, c in found)
    # the first word's candidates are the model's own top predictions there, by hand
    start, end, candidates = found[0]
    enc = lm.tokenizer(text, return_offsets_mapping=True)
    position = next(i for i, (s, e) in enumerate(enc["offset_mapping"]) if e == end and s <= start)
    ids = torch.tensor([enc["input_ids"]])
    ids[0, position] = lm.tokenizer.mask_token_id
    with torch.no_grad():
        ranked = lm.model(input_ids=ids).logits[0, position].topk(40).indices.tolist()
    assert candidates == [w for w in map(lm._word, ranked) if w is not None][:4]
    one_token = {text[:s].count(" "): c for s, e, c in found}
    assert len(one_token) == len(found)  # one candidate list per word, found by word offsets
    rng = random.Random(0)
    for _ in range(5):
        copy = augment_text(text, found, 1.0, rng).split()
        assert len(copy) == len(words)
        assert all(copy[i] in one_token[i] if i in one_token else copy[i] == words[i] for i in range(len(words)))
    assert augment_text(text, found, 0.0, rng) == text
    from lmlearn.distill.augment import augment_rows
    rows = [{"text": text, "label": 1}, {"text": "the", "label": 0}]
    assert augment_rows(rows, ["text"], lm, 5, 0.0, seed=0) == rows  # copies equal to their row are dropped
    grown = augment_rows(rows, ["text"], lm, 5, 1.0, seed=0)
    assert grown[:2] == rows and len({r["text"] for r in grown}) == len(grown) > 2
    assert all((r["label"] == 0) == (len(r["text"].split()) == 1) for r in grown)  # a copy keeps its row's label
    several = [i for i, w in enumerate(words) if len(lm.tokenizer.tokenize(w)) > 1]
    assert not set(several) & set(one_token)  # words of several tokens are never candidates


def test_task_distillation_with_augmented_copies_and_a_lora_student(teachers, classifier, tmp_path):
    """--augment N adds N copies of each labelled row; --peft lora trains an adapter on the student, saved against
    the student it started from (OUT/base), and plain peft reloads it to predict what was reported."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    common = ("--task", "classify", "--data", CLASSIFY_DATA, "--eval-data", CLASSIFY_TEST, "--block-size", "128",
              "--train-examples", "40", "--max-steps", "8")
    summary, _ = _distill(classifier, tmp_path / "aug", "--method", "kd", "--augment", "2", "--augment-model",
                          str(teachers["mlm"]), *common)
    assert 40 < summary["train_examples"] <= 120  # 40 rows, 2 draws each, a copy equal to its row or a twin dropped
    summary, rows = _distill(classifier, tmp_path / "lora", "--method", "kd", "--peft", "lora", *common)
    assert summary["peft"] == "lora" and 0 < summary["student_trainable_parameters"] < summary["student_parameters"]
    adapter = tmp_path / "lora" / "adapter"
    labels = json.loads((adapter / "head_config.json").read_text())
    base = AutoModelForSequenceClassification.from_pretrained(tmp_path / "lora" / "base")
    assert base.config.num_hidden_layers == 1
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    predictions = [json.loads(line) for line in (tmp_path / "lora" / "predictions.jsonl").read_text().splitlines()]
    batch = tokenizer([r["text"] for r in predictions], padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
    with torch.no_grad():
        ids = model(**batch).logits.argmax(-1).tolist()
    assert [labels["id2label"][str(i)] for i in ids] == [r["prediction"] for r in predictions]
    from lmlearn.workflows.distill import DistillConfig, run

    with pytest.raises(LmlearnError, match="--augment needs --augment-model"):
        run(DistillConfig(method="kd", task="classify", teacher=str(classifier), data=CLASSIFY_DATA,
                          eval_data=CLASSIFY_TEST, augment=2, out=str(tmp_path / "x")))
    with pytest.raises(LmlearnError, match="--augment copies labelled rows: it goes with --task"):
        run(DistillConfig(teacher=str(teachers["mlm"]), data=DATA, augment=2, out=str(tmp_path / "y")))
    with pytest.raises(LmlearnError, match="--peft with --method tinybert"):
        run(DistillConfig(method="tinybert", task="classify", teacher=str(classifier), data=CLASSIFY_DATA,
                          eval_data=CLASSIFY_TEST, peft="lora", out=str(tmp_path / "z")))


def test_task_kd_weights_its_soft_and_hard_terms_and_weight_zero_is_the_labels_only_control():
    """loss = alpha_soft * KL + alpha_hard * CE; at alpha_soft 0 it is the student's own cross-entropy, so the
    same student, data and steps give the control a distilled student is compared with (the tour's arm)."""
    from lmlearn.distill.task import TaskDistillation

    teacher = _tiny("bert", "sequence-classification")
    student = student_from_teacher(teacher, [1, 3])
    with torch.no_grad():  # an untrained tiny head answers near-uniformly, as its teacher does: make them differ
        student.classifier.weight.add_(torch.randn_like(student.classifier.weight))
    both = _task_step(TaskDistillation, student, teacher, alpha_soft=1.0)
    m = {k: v.item() for k, v in both.metrics.items()}
    assert m["kl"] > 1e-5 and both.loss.item() == pytest.approx(m["kl"] + m["ce"], rel=1e-6)
    alone = _task_step(TaskDistillation, student, teacher, alpha_soft=0.0)
    assert alone.loss.item() == pytest.approx(m["ce"], rel=1e-6)
    from lmlearn.workflows.distill import DistillConfig, run

    with pytest.raises(LmlearnError, match="nothing would teach"):
        run(DistillConfig(method="kd", teacher="x", alpha_soft=0.0, alpha_hard=0.0))
