"""Pre-training: train a model from a preset, a folder or a Hub id with a pre-training objective."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lmlearn import config
from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.data.settings import DataSettings
from lmlearn.engine.settings import TrainSettings
from lmlearn.models.settings import ModelSettings


@dataclass
class _PretrainBase(TrainSettings, DataSettings, PeftSettings, ModelSettings):
    objective: str = option("clm", "pre-training objective (see docs/objectives.md)")
    out: str = option("runs/pretrain", "output folder")


def _options() -> list[type]:
    from lmlearn.objectives import option_classes

    return option_classes()


PretrainConfig = config.with_options(_PretrainBase, _options(), "PretrainConfig", "Settings of `lmlearn pretrain`.")
Config = PretrainConfig


def run(cfg: PretrainConfig) -> dict[str, Any]:
    """Pre-train, then write OUT/model (with --peft: OUT/adapter), OUT/metrics.jsonl and OUT/summary.json;
    return the summary."""
    from lmlearn.driver import Driver
    from lmlearn.objectives import get_objective

    objective_class = get_objective(cfg.objective)
    driver = Driver(cfg, "pretrain", families=objective_class.families, what=f"objective '{cfg.objective}'",
                    head=objective_class.head)
    cfg = driver.cfg

    import datasets
    from transformers import set_seed

    from lmlearn.data.sources import iter_texts
    from lmlearn.driver import text_splits
    from lmlearn.objectives.base import Objective

    if not cfg.progress:
        datasets.disable_progress_bars()
    train_ds, eval_ds = driver.read(lambda report: text_splits(cfg, report))
    tokenizer = driver.tokenizer(iter_texts(train_ds, cfg.text_column))
    objective = objective_class(cfg, tokenizer)
    set_seed(cfg.seed)
    # an objective with its own build_model (two networks, an extra head) is not read into 4 bits
    model = driver.build(lambda: objective.build_model(cfg.model, cfg.seed), objective.head, objective.tokenizer,
                         load_4bit=type(objective).build_model is Objective.build_model,
                         what=f"objective '{cfg.objective}'")
    with driver.accelerator.main_process_first():
        train_examples = objective.prepare(train_ds, what="training data")
        eval_examples = None if eval_ds is None else objective.prepare(eval_ds, what="held-out data")
    result = driver.train(model, objective, train_examples, eval_examples)
    trained = driver.unwrap(model)
    driver.save(trained, tokenizer, save=objective.save)
    ppl = objective.token_loss
    return driver.finish({
        "objective": cfg.objective, **driver.trained_summary(trained),
        "train_examples": len(train_examples), "block_size": cfg.block_size,
        "initial_eval_perplexity": _ppl(result.initial_eval_loss) if ppl else None,
        "eval_perplexity": _ppl(result.eval_loss) if ppl else None,
        "wall_time_sec": round(result.wall_time, 2), "skipped_rows": driver.report.skipped,
    })


def _ppl(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 50.0))
