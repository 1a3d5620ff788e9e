"""`lmlearn pretrain`: train a model from a preset or a checkpoint with a pre-training objective."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlearn import config
from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.data.settings import DataSettings
from lmlearn.models.settings import ModelSettings
from lmlearn.engine.settings import TrainSettings


@dataclass
class _PretrainBase(TrainSettings, DataSettings, PeftSettings, ModelSettings):
    objective: str = option("clm", "pre-training objective (see docs/objectives.md)")
    out: str = option("runs/pretrain", "output folder")


def _options() -> list[type]:
    from lmlearn.objectives import option_classes

    return option_classes()


PretrainConfig = config.with_options(_PretrainBase, _options(), "PretrainConfig", "Settings of `lmlearn pretrain`.")


def _build_model(objective: Any, cfg: PretrainConfig, family: str, out: Path) -> Any:
    """The model to train: the objective's, or with --peft an adapter on its frozen base."""
    if not cfg.peft:
        return objective.build_model(cfg.model, cfg.seed)
    from lmlearn.adapters.apply import build_peft_model
    from lmlearn.objectives.base import Objective

    # An objective with its own build_model (two networks, an extra head) is not read into 4 bits.
    plain = type(objective).build_model is Objective.build_model
    return build_peft_model(cfg, family, objective.head, objective.tokenizer, cfg.model, out,
                            lambda: objective.build_model(cfg.model, cfg.seed), load_4bit=plain,
                            what=f"objective '{cfg.objective}'")


def run(cfg: PretrainConfig) -> dict[str, Any]:
    """Pre-train, then write OUT/model (with --peft: OUT/adapter), OUT/metrics.jsonl and OUT/summary.json;
    return the summary."""
    from lmlearn.objectives import get_objective
    from lmlearn.run import check_family, get_tokenizer, start_run

    objective_class = get_objective(cfg.objective)
    family = check_family(cfg.model, objective_class.families, f"objective '{cfg.objective}'")
    if cfg.peft:
        from lmlearn.adapters.apply import check_peft

        check_peft(cfg.peft, family, objective_class.head)
    accelerator, out = start_run(cfg)

    import datasets
    from transformers import set_seed

    from lmlearn.adapters.apply import adapter_base, parameter_summary, save_adapter
    from lmlearn.data.sources import ReadReport, iter_texts
    from lmlearn.run import text_splits, write_summary
    from lmlearn.engine.loop import train

    if not cfg.progress:
        datasets.disable_progress_bars()
    report = ReadReport()
    with accelerator.main_process_first():  # the main process fills the datasets cache; the others read it
        train_ds, eval_ds = text_splits(cfg, report)
    if report.skipped:
        print(f"skipped {report.skipped} malformed rows, first: {report.first_problems[0]}")
    tokenizer = get_tokenizer(cfg, out, family, iter_texts(train_ds, cfg.text_column), accelerator)
    objective = objective_class(cfg, tokenizer)
    set_seed(cfg.seed)
    model = _build_model(objective, cfg, family, out)
    with accelerator.main_process_first():
        train_examples = objective.prepare(train_ds, what="training data")
        eval_examples = None if eval_ds is None else objective.prepare(eval_ds, what="held-out data")
    if accelerator.is_main_process:
        config.save(cfg, out / "config.yaml")

    result = train(model, objective, train_examples, eval_examples, cfg, out, run_config=config.to_dict(cfg),
                   accelerator=accelerator)
    trained = result.accelerator.unwrap_model(model)
    if result.accelerator.is_main_process:
        if cfg.peft:
            save_adapter(trained, tokenizer, out / "adapter", base=adapter_base(cfg.model, out))
        else:
            objective.save(trained, out / "model")
    summary = {
        "objective": cfg.objective, "model": cfg.model, "family": family, "peft": cfg.peft,
        **parameter_summary(trained),
        "steps": result.step, "tokens_seen": result.tokens_seen,
        "train_examples": len(train_examples), "block_size": cfg.block_size,
        "final_train_loss": result.train_loss,
        "initial_eval_loss": result.initial_eval_loss,
        "initial_eval_perplexity": _ppl(result.initial_eval_loss) if objective.token_loss else None,
        "eval_loss": result.eval_loss, "eval_perplexity": _ppl(result.eval_loss) if objective.token_loss else None,
        "wall_time_sec": round(result.wall_time, 2),
        "skipped_rows": report.skipped,
    }
    if result.accelerator.is_main_process:
        write_summary(out, summary, "pretrain")
    return summary


def _ppl(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 50.0))


def print_summary(summary: dict[str, Any], out: str) -> None:
    """The few lines a person wants to see at the end of a run."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    keys = ["parameters", "trainable_parameters", "steps", "tokens_seen", "final_train_loss", "initial_eval_loss",
            "eval_loss", "eval_perplexity", "wall_time_sec"]
    width = max(map(len, keys))
    for key in keys:
        value = fmt(summary.get(key))
        if key == "trainable_parameters":
            value += f" ({summary['trainable_percent']:.3g}%)"
        print(f"  {key:<{width}}  {value}")
    if summary.get("peft"):
        print(f"{summary['peft']} adapter saved to {Path(out) / 'adapter'}")
    else:
        print(f"model saved to {Path(out) / 'model'}")


Config = PretrainConfig


def main(cfg: PretrainConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    print_summary(summary, cfg.out)
    return 0
