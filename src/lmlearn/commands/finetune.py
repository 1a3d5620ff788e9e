"""`lmlearn finetune`: train a model on a downstream task (classify, pair, regress, tag, qa, seq2seq), by
full fine-tuning, from scratch, on frozen features, or on static word2vec embeddings; then predict
the test data and score it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
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


def resolve_init(cfg: Any) -> str:
    """'pretrained' or 'random': what --init means for this model."""
    from lmlearn.errors import LmlearnError
    from lmlearn.models.presets import parse_preset

    preset = parse_preset(cfg.model) is not None
    if cfg.init == "auto":
        return "random" if preset else "pretrained"
    if cfg.init == "pretrained" and preset:
        raise LmlearnError(f"--init pretrained: '{cfg.model}' is a preset (random weights); give a model folder, "
                           "e.g. one written by `lmlearn pretrain`")
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


def _read(task: Any, cfg: Any, report: Any) -> tuple[Any, Any]:
    if cfg.mixture:
        return task.read_mixture(report=report)
    train_ds = task.read(cfg.data, what="training data", report=report)
    if cfg.eval_data:
        return train_ds, task.read(cfg.eval_data, what="test data", report=report)
    parts = train_ds.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
    return parts["train"], parts["test"]


def run(cfg: Any) -> dict[str, Any]:
    """Fine-tune, predict the test data, and write OUT/model, OUT/predictions.jsonl, OUT/summary.json."""
    from lmlearn.run import check_family, start_run
    from lmlearn.tasks import get_task

    task_class = get_task(cfg.task)
    init = resolve_init(cfg) if not cfg.static_embeddings else "random"
    _check_modes(cfg, init)
    if cfg.static_embeddings:
        from lmlearn.transfer.static import check_task

        check_task(task_class)
    family = None if cfg.static_embeddings else check_family(cfg.model, task_class.families, f"task '{cfg.task}'")
    if cfg.peft:
        from lmlearn.adapters.apply import check_peft

        check_peft(cfg.peft, family, task_class.head)
    accelerator, out = start_run(cfg)

    import datasets
    from transformers import set_seed

    from lmlearn.adapters.apply import adapter_base, build_peft_model, parameter_summary, save_adapter
    from lmlearn.data.sources import ReadReport
    from lmlearn.errors import LmlearnError
    from lmlearn.io import atomic_write_text
    from lmlearn.run import get_tokenizer, write_summary
    from lmlearn.engine.loop import train

    if not cfg.progress:
        datasets.disable_progress_bars()
    report = ReadReport()
    reader = task_class(cfg)
    with accelerator.main_process_first():  # the main process fills the datasets cache; the others read it
        train_ds, eval_ds = _read(reader, cfg, report)
        if cfg.train_examples:
            if cfg.train_examples > len(train_ds):
                raise LmlearnError(f"--train-examples {cfg.train_examples}: the training data has only "
                                   f"{len(train_ds)} rows")
            train_ds = train_ds.shuffle(seed=cfg.seed).select(range(cfg.train_examples))
        valid_ds = None
        if cfg.validation_fraction:
            parts = train_ds.train_test_split(test_size=cfg.validation_fraction, seed=cfg.seed)
            train_ds, valid_ds = parts["train"], parts["test"]
    if report.skipped:
        print(f"skipped {report.skipped} malformed rows, first: {report.first_problems[0]}")
    set_seed(cfg.seed)
    if cfg.static_embeddings:
        from lmlearn.transfer import static

        tokenizer = static.get_tokenizer(cfg, out, reader.tokenizer_texts(train_ds))
    else:
        tokenizer = get_tokenizer(cfg, out, family, reader.tokenizer_texts(train_ds), accelerator)
    task = task_class(cfg, tokenizer)
    task.fit(train_ds)
    if cfg.static_embeddings:
        model = static.build_model(cfg, out, tokenizer, task)
    elif cfg.peft:
        model = build_peft_model(cfg, family, task.head, tokenizer, cfg.model, out,
                                 lambda: task.build_model(cfg.model, cfg.seed, random_init=init == "random"),
                                 load_4bit=init == "pretrained", **task.model_config())
    else:
        model = task.build_model(cfg.model, cfg.seed, random_init=init == "random")
    if cfg.freeze:
        from lmlearn.transfer.freeze import freeze_backbone

        freeze_backbone(model)
    with accelerator.main_process_first():
        train_examples = task.prepare(train_ds, what="training data")
        eval_examples = task.prepare(eval_ds, what="test data")
        valid_examples = task.prepare(valid_ds, what="validation data") if valid_ds is not None else None
    if accelerator.is_main_process:
        config.save(cfg, out / "config.yaml")

    # the loop's held-out loss (and --early-stopping) reads validation data when there is some, else the test data
    held_out = valid_examples if valid_examples is not None else eval_examples
    result = train(model, task, train_examples, held_out, cfg, out, run_config=config.to_dict(cfg),
                   accelerator=accelerator)
    model = result.accelerator.unwrap_model(model)
    predictions = task.predict(model, eval_examples, cfg.batch_size, result.accelerator.device)
    scores = task.score(eval_ds, predictions)
    summary = {
        "task": cfg.task, "model": "word2vec+bilstm" if cfg.static_embeddings else cfg.model, "family": family,
        "init": init, "freeze": cfg.freeze, "static_embeddings": cfg.static_embeddings, "peft": cfg.peft,
        **parameter_summary(model),
        "steps": result.step, "train_examples": len(train_examples), "test_examples": len(eval_examples),
        "final_train_loss": result.train_loss,
        **({"validation_examples": len(valid_examples), "validation_loss": result.eval_loss,
            **{f"validation_{name}": value for name, value in sorted(result.eval_metrics.items())},
            "best_step": result.best_step, "stopped_early": result.stopped_early}
           if valid_examples is not None else
           {"initial_eval_loss": result.initial_eval_loss, "eval_loss": result.eval_loss}),
        "metric": task.metric, **scores,
        "wall_time_sec": round(result.wall_time, 2), "skipped_rows": report.skipped,
    }
    if result.accelerator.is_main_process:
        import json

        lines = (json.dumps(task.record(row, p), ensure_ascii=False) for row, p in zip(eval_ds, predictions))
        atomic_write_text(out / "predictions.jsonl", "".join(line + "\n" for line in lines))
        if cfg.peft:
            save_adapter(model, tokenizer, out / "adapter", base=adapter_base(cfg.model, out))
        else:
            task.save(model, out / "model")
        write_summary(out, summary, "finetune")
    return summary


def print_summary(summary: dict[str, Any], out: str) -> None:
    """The few lines a person wants to see at the end of a run."""
    keys = ["task", "init", "parameters", "trainable_parameters", "steps", "final_train_loss",
            *(["validation_loss", "best_step"] if "validation_loss" in summary else ["eval_loss"]),
            summary["metric"], *[k for k in ("macro_f1", "entity_f1", "f1", "exact_match", "rougeL", "bleu")
                                 if k in summary and k != summary["metric"]], "wall_time_sec"]
    width = max(map(len, keys))
    for key in keys:
        value = summary.get(key)
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        if key == "trainable_parameters":
            shown += f" ({summary['trainable_percent']:.3g}%)"
        print(f"  {key:<{width}}  {shown}")
    saved = f"{summary['peft']} adapter saved to {Path(out) / 'adapter'}" if summary.get("peft") else \
        f"model saved to {Path(out) / 'model'}"
    print(f"{saved}; predictions in {Path(out) / 'predictions.jsonl'}")


def main(cfg: Any) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    print_summary(summary, cfg.out)
    return 0
