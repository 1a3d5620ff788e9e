"""`lmlearn reward`: train a reward model on preference pairs (InstructGPT's step 2; see docs/align.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlearn import config
from lmlearn.align.setup import PreferenceSettings
from lmlearn.config import option
from lmlearn.families import DECODERS, ENCODERS


@dataclass
class RewardConfig(PreferenceSettings):
    """Settings of `lmlearn reward`."""

    center_coefficient: float = option(0.0, "weight of the centering term (r_chosen + r_rejected)^2, which keeps "
                                            "rewards near zero (0: off; 0.01 in Eisenstein et al. 2023)", range=">=0")
    disable_dropout: bool = option(True, "switch the model's dropout off while training")
    test_data: str | None = option(None, "pairs scored once at the end (pairwise accuracy, OUT/test_predictions.jsonl "
                                         "for `lmlearn paired`); choose settings on --eval-data, never on these")
    out: str = option("runs/reward", "output folder")


Config = RewardConfig
# decoders read at the last real token (a `score` head), encoders at their first ([CLS]); XLNet pools its last
# position whatever the padding, and BART and T5 their last eos, which right-padded pairs do not give them
REWARD_FAMILIES = DECODERS + ENCODERS


def run(cfg: RewardConfig) -> dict[str, Any]:
    """Train, then write OUT/model (a one-label AutoModelForSequenceClassification; with --peft, OUT/adapter),
    OUT/metrics.jsonl and OUT/summary.json (held-out pairwise accuracy); return the summary."""
    from lmlearn.adapters.apply import parameter_summary
    from lmlearn.align.common import disable_dropout
    from lmlearn.align.reward import RewardModeling
    from lmlearn.align.setup import prepare, save
    from lmlearn.engine.loop import train
    from lmlearn.run import start_run, write_summary

    accelerator, out = start_run(cfg)
    overrides = {"num_labels": 1, "id2label": {0: "reward"}, "label2id": {"reward": 0}}
    prepared = prepare(cfg, accelerator, out, "sequence-classification", REWARD_FAMILIES, overrides)
    if cfg.disable_dropout:
        disable_dropout(prepared.model)
    method = RewardModeling(prepared.tokenizer.pad_token_id if prepared.tokenizer.pad_token_id is not None
                            else prepared.tokenizer.eos_token_id, cfg.center_coefficient)
    if accelerator.is_main_process:
        config.save(cfg, out / "config.yaml")
    result = train(prepared.model, method, prepared.train, prepared.eval, cfg, out, run_config=config.to_dict(cfg),
                   accelerator=accelerator)
    trained = result.accelerator.unwrap_model(prepared.model)
    summary = {
        "model": cfg.model, "family": prepared.family, "template": prepared.template, "peft": cfg.peft,
        **parameter_summary(trained), **prepared.rows,
        "steps": result.step, "final_train_loss": result.train_loss, "initial_eval_loss": result.initial_eval_loss,
        "eval_loss": result.eval_loss, "eval_accuracy": result.eval_metrics.get("accuracy"),
        "eval_reward_margin": result.eval_metrics.get("reward_margin"),
        "wall_time_sec": round(result.wall_time, 2),
    }
    if cfg.test_data:
        records = _score_test(cfg, prepared, method, trained, result.accelerator.device)
        summary.update(test_pairs=len(records), test_accuracy=sum(r["acc"] for r in records) / len(records))
    if result.accelerator.is_main_process:
        save(prepared, trained, cfg, out)
        if cfg.test_data:
            import json

            from lmlearn.io import atomic_write_text

            atomic_write_text(out / "test_predictions.jsonl",
                              "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        write_summary(out, summary, "reward")
    return summary


def _score_test(cfg: RewardConfig, prepared: Any, method: Any, model: Any, device: Any) -> list[dict[str, Any]]:
    """Per test pair: whether the chosen answer scores higher (acc), and the two rewards."""
    import torch

    from lmlearn.align.preferences import read_pairs, tokenize_pairs
    from lmlearn.data.sources import ReadReport

    pairs, _ = tokenize_pairs(read_pairs(cfg.test_data, cfg.layout, cfg.on_bad_rows, ReadReport()),
                              prepared.template, prepared.tokenizer, cfg.block_size)
    model.eval()
    records = []
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.batch_size):
            batch = {k: v.to(device) for k, v in method.collate(pairs[start:start + cfg.batch_size], None).items()}
            chosen, rejected = method.rewards(model, batch)
            for i, (c, r) in enumerate(zip(chosen.tolist(), rejected.tolist())):
                records.append({"id": pairs[start + i].where, "acc": float(c > r), "reward_chosen": c,
                                "reward_rejected": r})
    return records


def main(cfg: RewardConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("train_pairs", "eval_pairs", "steps", "final_train_loss", "eval_loss", "eval_accuracy",
                "test_accuracy"):
        value = summary.get(key)
        print(f"  {key:<18} {f'{value:.4g}' if isinstance(value, float) else value}")
    print(f"reward model saved to {Path(cfg.out) / ('adapter' if cfg.peft else 'model')}")
    return 0
