"""Reward modelling: a scalar reward model trained on preference pairs (InstructGPT's step 2; docs/align.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    from lmlearn.align.common import disable_dropout
    from lmlearn.align.reward import RewardModeling
    from lmlearn.align.setup import prepare
    from lmlearn.driver import Driver

    driver = Driver(cfg, "reward", families=REWARD_FAMILIES, what="reward modelling",
                    head="sequence-classification")
    cfg = driver.cfg
    overrides = {"num_labels": 1, "id2label": {0: "reward"}, "label2id": {"reward": 0}}
    prepared = prepare(driver, "sequence-classification", overrides)
    if cfg.disable_dropout:
        disable_dropout(prepared.model)
    tok = prepared.tokenizer
    method = RewardModeling(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                            cfg.center_coefficient)
    result = driver.train(prepared.model, method, prepared.train, prepared.eval)
    trained = driver.unwrap(prepared.model)
    summary = {
        **driver.trained_summary(trained), "template": prepared.template, **prepared.rows,
        "eval_accuracy": result.eval_metrics.get("accuracy"),
        "eval_reward_margin": result.eval_metrics.get("reward_margin"), "wall_time_sec": round(result.wall_time, 2),
    }
    if cfg.test_data:
        records = _score_test(cfg, prepared, method, trained, driver.accelerator.device)
        summary.update(test_pairs=len(records), test_accuracy=sum(r["acc"] for r in records) / len(records))
        driver.write("test_predictions.jsonl", records)
    driver.save(trained, tok)
    return driver.finish(summary)


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
