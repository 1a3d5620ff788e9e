"""Task fine-tuning: train a model on a downstream task (classify, pair, regress, tag, qa, seq2seq), by full
fine-tuning, from scratch, on frozen features, or on static word2vec embeddings; then predict the test
data and score it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from lmlearn import config
from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.data.settings import DataSettings
from lmlearn.models.settings import ModelSettings
from lmlearn.engine.settings import TrainSettings


@dataclass
class _FinetuneBase(TrainSettings, DataSettings, PeftSettings, ModelSettings):
    task: str = option("classify", "downstream task: classify, pair, regress, tag, qa, seq2seq")
    init: Literal["auto", "pretrained", "random"] = option(
        "auto", "pretrained: start from the model folder's weights; random: the same architecture from "
                "scratch; auto: pretrained for a folder, random for a preset")
    freeze: bool = option(False, "train only the task head on frozen features of the model")
    static_embeddings: Literal["word2vec"] | None = option(
        None, "train word2vec on --embedding-corpus and feed its frozen vectors to a small BiLSTM task model "
              "(--model and the tokenizer flags are then unused)")
    mixture: str | None = option(None, "YAML file of several text-to-text tasks trained together (seq2seq)")
    train_examples: int = option(0, "use a sample of this many labelled rows, drawn with --seed (0: all of "
                                    "them; --validation-fraction is then taken out of the sample); for learning "
                                    "curves over labelled-set sizes", range=">=0")
    validation_fraction: float = option(
        0.0, "hold out this fraction of the training data as validation: the held-out loss during training and "
             "--early-stopping are then measured on it, not on the test data", range="[0, 1)")
    out: str = option("runs/finetune", "output folder")


def _options() -> list[type]:
    from lmlearn.tasks import option_classes
    from lmlearn.transfer.static import StaticOptions

    return [*option_classes(), StaticOptions]


FinetuneConfig = config.with_options(_FinetuneBase, _options(), "FinetuneConfig", "Settings of `lmlearn finetune`.")
Config = FinetuneConfig


def resolve_init(cfg: Any, model: Any = None) -> str:
    """'pretrained' or 'random': what --init means for this model (a preset has only random weights)."""
    from lmlearn.models.spec import resolve_model
    from lmlearn.errors import LmlearnError

    model = model or resolve_model(cfg.model)
    if cfg.init == "auto":
        return "pretrained" if model.pretrained else "random"
    if cfg.init == "pretrained" and not model.pretrained:
        raise LmlearnError(f"--init pretrained: '{cfg.model}' is a preset (random weights); give a model folder, "
                           "e.g. one written by `lmlearn pretrain`, or a Hub id")
    return cfg.init


def _check_modes(cfg: Any, init: str) -> None:
    from lmlearn.errors import LmlearnError

    if cfg.freeze and init == "random":
        raise LmlearnError("--freeze keeps the model's weights as they are, so it needs pre-trained ones "
                           "(a model folder, not a preset or --init random)")
    if cfg.static_embeddings and (cfg.freeze or cfg.init == "pretrained" or cfg.peft):
        raise LmlearnError("--static-embeddings trains its own small model; drop --freeze/--init pretrained/--peft")
    if cfg.freeze and cfg.peft:
        raise LmlearnError("--freeze and --peft both keep the model's weights fixed; choose one")
    if cfg.early_stopping and not cfg.validation_fraction:
        raise LmlearnError("--early-stopping chooses the stopping step on held-out data; give --validation-fraction "
                           "(a split of the training data) so that the test data chooses nothing")
    if cfg.mixture and cfg.task != "seq2seq":
        raise LmlearnError(f"--mixture holds text-to-text tasks; use it with --task seq2seq, not --task {cfg.task}")


def _read(task: Any, cfg: Any, report: Any) -> tuple[Any, Any, Any]:
    """Training, validation (None without --validation-fraction) and test rows."""
    from lmlearn.driver import labelled_sample

    if cfg.mixture:
        train_ds, eval_ds = task.read_mixture(report=report)
    else:
        train_ds, eval_ds = task.read_splits(report)
    train_ds = labelled_sample(train_ds, cfg.train_examples, cfg.seed)
    if not cfg.validation_fraction:
        return train_ds, None, eval_ds
    parts = train_ds.train_test_split(test_size=cfg.validation_fraction, seed=cfg.seed)
    return parts["train"], parts["test"], eval_ds


def run(cfg: Any) -> dict[str, Any]:
    """Fine-tune, predict the test data, and write OUT/model, OUT/predictions.jsonl, OUT/summary.json."""
    from lmlearn.driver import Driver
    from lmlearn.models.spec import resolve_model
    from lmlearn.tasks import get_task

    task_class = get_task(cfg.task)
    model_spec = None if cfg.static_embeddings else resolve_model(cfg.model)
    init = "random" if cfg.static_embeddings else resolve_init(cfg, model_spec)
    _check_modes(cfg, init)
    if cfg.static_embeddings:
        from lmlearn.transfer.static import check_task

        check_task(task_class)
    driver = Driver(cfg, "finetune", model=model_spec, families=task_class.families, what=f"task '{cfg.task}'",
                    head=task_class.head, resolve=not cfg.static_embeddings)
    cfg = driver.cfg

    import datasets
    from transformers import set_seed

    if not cfg.progress:
        datasets.disable_progress_bars()
    reader = task_class(cfg)
    train_ds, valid_ds, eval_ds = driver.read(lambda report: _read(reader, cfg, report))
    set_seed(cfg.seed)
    if cfg.static_embeddings:
        from lmlearn.transfer import static

        tokenizer = static.get_tokenizer(cfg, driver.out, reader.tokenizer_texts(train_ds))
    else:
        tokenizer = driver.tokenizer(reader.tokenizer_texts(train_ds))
    task = task_class(cfg, tokenizer)
    task.fit(train_ds)
    if cfg.static_embeddings:
        model = static.build_model(cfg, driver.out, tokenizer, task)
    else:
        model = driver.build(lambda: task.build_model(cfg.model, cfg.seed, random_init=init == "random"), task.head,
                             tokenizer, load_4bit=init == "pretrained", **task.model_config())
    if cfg.freeze:
        from lmlearn.transfer.freeze import freeze_backbone

        freeze_backbone(model)
    with driver.accelerator.main_process_first():
        train_examples = task.prepare(train_ds, what="training data")
        eval_examples = task.prepare(eval_ds, what="test data")
        valid_examples = task.prepare(valid_ds, what="validation data") if valid_ds is not None else None

    # the loop's held-out loss (and --early-stopping) reads validation data when there is some, else the test data
    result = driver.train(model, task, train_examples, valid_examples if valid_examples is not None else eval_examples)
    model = driver.unwrap(model)
    start = time.perf_counter()
    predictions = task.predict(model, eval_examples, cfg.batch_size, driver.accelerator.device)
    predict_sec = time.perf_counter() - start
    scores = task.score(eval_ds, predictions)
    summary = driver.trained_summary(model)
    summary.update(model="word2vec+bilstm" if cfg.static_embeddings else driver.given.model)
    for key in ("initial_eval_loss", "eval_loss"):  # replaced by the validation fields below when there are some
        summary.pop(key)
    summary = {
        "task": cfg.task, **summary, "init": init, "freeze": cfg.freeze, "static_embeddings": cfg.static_embeddings,
        "train_examples": len(train_examples), "test_examples": len(eval_examples),
        **({"validation_examples": len(valid_examples), "validation_loss": result.eval_loss,
            **{f"validation_{name}": value for name, value in sorted(result.eval_metrics.items())},
            "best_step": result.best_step, "stopped_early": result.stopped_early}
           if valid_examples is not None else
           {"initial_eval_loss": result.initial_eval_loss, "eval_loss": result.eval_loss}),
        "metric": task.metric, **scores,
        "wall_time_sec": round(result.wall_time, 2), "predict_sec_per_doc": round(predict_sec / max(len(eval_ds), 1), 6),
        "skipped_rows": driver.report.skipped,
    }
    driver.write("predictions.jsonl", (task.record(row, p) for row, p in zip(eval_ds, predictions)))
    driver.save(model, tokenizer, save=task.save)
    return driver.finish(summary)
