"""Distillation: train a smaller student against a frozen teacher (DistilBERT, TinyBERT, KD)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lmlearn import config
from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.data.settings import DataSettings
from lmlearn.engine.settings import TrainSettings


@dataclass
class _DistillBase(TrainSettings, DataSettings, PeftSettings):
    method: str = option("distilbert", "distillation method: distilbert, tinybert or kd (see docs/distill.md)")
    teacher: str = option("", "the teacher's model folder (its tokenizer is the student's)")
    student: str = option("", "a preset or folder for the student; empty: the teacher with --layers of its layers")
    task: str = option("", "distil a fine-tuned task model (classify, pair, tag, qa) instead of a language model; "
                           "its data, columns and labels as in `lmlearn finetune`")
    train_examples: int = option(0, "--task: distil on a sample of this many labelled rows, drawn with --seed as "
                                    "`lmlearn finetune --train-examples` draws them (0: all)", range=">=0")
    out: str = option("runs/distill", "output folder")


def _options() -> list[type]:
    from lmlearn.distill import option_classes
    from lmlearn.distill.augment import AugmentOptions
    from lmlearn.objectives.mlm import MaskedLMOptions
    from lmlearn.tasks import option_classes as task_options

    # masked methods mask as `mlm`; tasks read as finetune
    return [MaskedLMOptions, *option_classes(), AugmentOptions, *task_options()]


DistillConfig = config.with_options(_DistillBase, _options(), "DistillConfig", "Settings of `lmlearn distill`.")
Config = DistillConfig


def _throughput(model: Any, batch: dict[str, Any], repeats: int = 5) -> float:
    """Tokens per second of a forward pass on `batch` (median of `repeats`, after one warm-up)."""
    import statistics

    import torch

    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            model(**inputs)
            if i:
                times.append(time.perf_counter() - t0)
    return inputs["input_ids"].numel() / statistics.median(times)


def run(cfg: Any) -> dict[str, Any]:
    """Distil, then write OUT/model (the student), OUT/metrics.jsonl and OUT/summary.json."""
    import dataclasses

    from lmlearn.models.spec import resolve_model, resolve_model_dir
    from lmlearn.errors import LmlearnError
    from lmlearn.models.factory import load_tokenizer

    if not cfg.teacher:
        raise LmlearnError("--teacher is required: the folder of the model to distil")
    if cfg.method == "kd" and not (cfg.alpha_soft or cfg.alpha_hard):
        raise LmlearnError("--alpha-soft 0 with --alpha-hard 0: nothing would teach the student; give one a weight")
    teacher = resolve_model(cfg.teacher, "--teacher")
    folder = resolve_model_dir(cfg.teacher, "--teacher")
    student = resolve_model(cfg.student, "--student").path if cfg.student else ""
    tokenizer = load_tokenizer(str(folder))
    if tokenizer is None:
        raise LmlearnError(f"--teacher {cfg.teacher} holds no tokenizer; the student needs the teacher's")
    given = cfg
    cfg = dataclasses.replace(cfg, teacher=str(folder), student=student)
    return (_run_task if cfg.task else _run_lm)(cfg, given, teacher.family, tokenizer)


def _run_lm(cfg: Any, given: Any, family: str, tokenizer: Any) -> dict[str, Any]:
    """Language-model distillation: the method's objective reads and masks the text."""
    from lmlearn.data.sources import ReadReport
    from lmlearn.distill import get_method
    from lmlearn.errors import LmlearnError
    from lmlearn.models.factory import load_model
    from lmlearn.driver import text_splits

    if cfg.train_examples or cfg.augment:
        flag = "--train-examples samples" if cfg.train_examples else "--augment copies"
        raise LmlearnError(f"{flag} labelled rows: it goes with --task (a language model distils on all of --data)")
    method_class = get_method(cfg.method)
    if family not in method_class.families:
        raise LmlearnError(f"--method {cfg.method} distils {', '.join(method_class.families)} models; "
                           f"--teacher {cfg.teacher} is a {family} model")
    method = method_class(cfg, tokenizer)
    teacher = load_model(cfg.teacher, method.head, tokenizer)
    report = ReadReport()

    def read() -> tuple[Any, Any]:
        train_ds, eval_ds = text_splits(cfg, report)
        return (method.prepare(train_ds, what="training data"),
                None if eval_ds is None else method.prepare(eval_ds, what="held-out data"))

    return _distil(cfg, given, family, method, teacher, read, report, scorer=None)


def _run_task(cfg: Any, given: Any, family: str, tokenizer: Any) -> dict[str, Any]:
    """Task distillation: the task reads rows and labels, the teacher is its fine-tuned classifier."""
    from lmlearn.data.sources import ReadReport
    from lmlearn.distill import get_task_method
    from lmlearn.driver import labelled_sample
    from lmlearn.distill.task import TASKS
    from lmlearn.errors import LmlearnError
    from lmlearn.models.factory import load_model
    from lmlearn.tasks import get_task

    if cfg.task not in TASKS:
        raise LmlearnError(f"--task {cfg.task}: distillation takes a {', '.join(TASKS)} teacher")
    if cfg.early_stopping:
        raise LmlearnError("--early-stopping: task distillation evaluates on --eval-data, the test data, during "
                           "training, so stopping on it would let the test data choose; train for fixed --max-steps")
    task_class = get_task(cfg.task)
    report = ReadReport()
    task = task_class(cfg, tokenizer)
    rows: dict[str, Any] = {}

    def read() -> tuple[Any, Any]:
        train_ds, eval_ds = task.read_splits(report)
        train_ds = labelled_sample(train_ds, cfg.train_examples, cfg.seed)
        task.fit(train_ds)
        if cfg.augment:
            train_ds = _augmented(cfg, task, train_ds)
        labels, mine = getattr(teacher.config, "id2label", None), task.model_config().get("id2label")
        if mine is not None and labels is not None and {int(k): v for k, v in labels.items()} != mine:
            raise LmlearnError(f"--teacher {cfg.teacher} was trained on the labels {labels}; the data's are {mine}")
        rows["eval"] = eval_ds
        return task.prepare(train_ds, what="training data"), task.prepare(eval_ds, what="test data")

    method = get_task_method(cfg.method)(cfg, task)
    if family not in method.families:
        raise LmlearnError(f"--method {cfg.method} --task {cfg.task} distils {', '.join(method.families)} models; "
                           f"--teacher {cfg.teacher} is a {family} model")
    teacher = load_model(cfg.teacher, task.head, tokenizer)

    def scorer(model: Any, examples: Any, device: Any) -> tuple[dict[str, float], list[dict[str, Any]]]:
        predictions = task.predict(model, examples, cfg.batch_size, device)
        return task.score(rows["eval"], predictions), [task.record(r, p) for r, p in zip(rows["eval"], predictions)]

    return _distil(cfg, given, family, method, teacher, read, report, scorer=scorer)


def _augmented(cfg: Any, task: Any, rows: Any) -> Any:
    """TinyBERT's augmentation of the labelled rows: the rows, then up to --augment distinct copies of each."""
    import datasets
    import torch

    from lmlearn.distill.augment import WordCandidates, augment_rows
    from lmlearn.errors import LmlearnError
    from lmlearn.models.spec import resolve_model_dir

    if cfg.task not in ("classify", "pair"):
        raise LmlearnError(f"--augment rewrites the words of classify and pair rows; --task {cfg.task} is neither")
    if not cfg.augment_model:
        raise LmlearnError("--augment needs --augment-model: a masked LM folder to propose words (the paper uses a "
                           "pre-trained BERT; the teacher's own base model fits)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lm = WordCandidates(str(resolve_model_dir(cfg.augment_model, "--augment-model")), cfg.augment_k, device)
    return datasets.Dataset.from_list(augment_rows(rows, task.text_columns(), lm, cfg.augment, cfg.augment_p,
                                                   cfg.seed))


def _distil(cfg: Any, given: Any, family: str, method: Any, teacher: Any, read: Any, report: Any,
            scorer: Any) -> dict[str, Any]:
    """The shared run: the student, the engine with the teacher frozen, the student saved, the summary."""
    import torch
    from transformers import set_seed

    from lmlearn.adapters.apply import parameter_counts
    from lmlearn.distill.student import check_vocabularies
    from lmlearn.driver import Driver
    from lmlearn.errors import LmlearnError
    from lmlearn.models.factory import count_parameters, load_tokenizer

    if cfg.peft:
        from lmlearn.adapters.apply import check_peft

        if cfg.method == "tinybert":
            raise LmlearnError("--peft with --method tinybert: its losses read the student's own attention and "
                               "hidden layers, which an adapter wraps; use kd or distilbert")
        check_peft(cfg.peft, family, method.head)
    driver = Driver(given, "distill", resolve=False)
    driver.report = report
    train_examples, eval_examples = driver.read(lambda _: read())
    set_seed(cfg.seed)
    student = method.build_student(teacher, cfg.student, cfg.seed)
    check_vocabularies(teacher, student, method.tokenizer, load_tokenizer(cfg.student) if cfg.student else None)
    # --peft: an adapter on the student; the student as built is its base (saved to OUT/base)
    student = driver.adapt(student, method.head, method.tokenizer, grew=True, family=family)
    trained = method.trainable(student, teacher)
    result = driver.train(trained, method, train_examples, eval_examples, frozen={"teacher": teacher})
    student = method.student_of(driver.unwrap(trained))
    device = driver.accelerator.device
    probe = eval_examples if eval_examples is not None else train_examples
    sample = method.collate(probe[:cfg.batch_size], torch.Generator().manual_seed(0))
    sample = {k: v.to(device) for k, v in sample.items() if isinstance(v, torch.Tensor)}
    teacher_params, (student_trainable, student_params) = count_parameters(teacher)[1], parameter_counts(student)
    speed_teacher, speed_student = _throughput(teacher, sample), _throughput(student, sample)
    summary = {
        "method": cfg.method, "task": cfg.task or None, "teacher": given.teacher, "family": family,
        "student": given.student or f"the teacher with layers {cfg.layers or 'every other'}",
        "teacher_parameters": teacher_params, "student_parameters": student_params,
        "student_trainable_parameters": student_trainable, "peft": cfg.peft,
        "size_ratio": round(student_params / teacher_params, 4),
        "teacher_tokens_per_sec": round(speed_teacher), "student_tokens_per_sec": round(speed_student),
        "speedup": round(speed_student / speed_teacher, 3),
        "train_examples": len(train_examples),
        "steps": result.step, "tokens_seen": result.tokens_seen, "final_train_loss": result.train_loss,
        "initial_eval_loss": result.initial_eval_loss, "eval_loss": result.eval_loss,
        **{f"eval_{k}": v for k, v in result.eval_metrics.items()},
        "wall_time_sec": round(result.wall_time, 2), "skipped_rows": report.skipped,
    }
    if scorer is not None:  # the task metric of both, on the same test documents
        teacher_scores, _ = scorer(teacher, eval_examples, device)
        start = time.perf_counter()  # as finetune times its predictions (plus scoring, a sliver): compare's column
        student_scores, records = scorer(student, eval_examples, device)
        predict_sec = time.perf_counter() - start
        metric = method.task.metric
        summary.update({"metric": metric, f"teacher_{metric}": teacher_scores[metric],
                        f"student_{metric}": student_scores[metric],
                        "predict_sec_per_doc": round(predict_sec / max(len(eval_examples), 1), 6),
                        "student_share": round(student_scores[metric] / max(teacher_scores[metric], 1e-12), 4)})
        driver.write("predictions.jsonl", records)  # the student's, as finetune writes them (`lmlearn paired`)
    driver.save(student, method.tokenizer, save=method.save)
    return driver.finish(summary)
