"""`lmlearn dpo`: direct preference optimisation of a causal LM (DPO, IPO, hinge, SimPO; see docs/align.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lmlearn import config
from lmlearn.align.setup import PreferenceSettings
from lmlearn.config import option


@dataclass
class DPOConfig(PreferenceSettings):
    """Settings of `lmlearn dpo`."""

    loss: Literal["sigmoid", "ipo", "hinge", "simpo"] = option(
        "sigmoid", "sigmoid (DPO), ipo, hinge (SLiC) or simpo (reference-free, length-normalised)")
    beta: float = option(0.1, "strength of the KL constraint to the reference (simpo: reward scale, ~2)",
                         range=">0")
    label_smoothing: float = option(0.0, "sigmoid: the share of pairs assumed mislabelled (cDPO)", range="[0, 0.5)")
    simpo_gamma: float = option(0.5, "simpo: target reward margin", range=">=0")
    precompute_ref: bool = option(False, "compute the reference's log-probabilities once before training and hold "
                                         "no reference model while training")
    share_prompt: Literal["auto", "always", "never"] = option(
        "auto", "run each pair's prompt once for both answers (its keys and values cached): always, never, or auto: "
                "when a batch's prompt tokens outnumber its answers' (where it pays; docs/benchmarks.md)")
    disable_dropout: bool = option(True, "switch dropout off (policy and reference then agree at the start)")
    out: str = option("runs/dpo", "output folder")


Config = DPOConfig


def run(cfg: DPOConfig) -> dict[str, Any]:
    """Train the policy, then write OUT/model (with --peft: OUT/adapter), OUT/metrics.jsonl and
    OUT/summary.json (held-out preference accuracy of the implicit reward); return the summary."""
    from lmlearn.adapters.apply import parameter_summary
    import copy

    from lmlearn.align.common import POLICY_FAMILIES, adapters_off, disable_dropout
    from lmlearn.align.dpo import REFERENCE_FREE, DPO
    from lmlearn.align.setup import prepare, save
    from lmlearn.engine.loop import train
    from lmlearn.run import start_run, write_summary

    accelerator, out = start_run(cfg)
    prepared = prepare(cfg, accelerator, out, "causal-lm", POLICY_FAMILIES)
    tok = prepared.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if cfg.disable_dropout:
        disable_dropout(prepared.model)
    if cfg.loss == "simpo" and cfg.beta < 1:
        print(f"note: --loss simpo with --beta {cfg.beta}: SimPO's beta scales a mean log-probability per token "
              "(its paper uses 2 to 2.5 with --simpo-gamma about 0.5 to 1.5)")
    frozen: dict[str, Any] = {}
    reference = "none" if cfg.loss in REFERENCE_FREE else ("adapters-off" if cfg.peft else "model")
    method = DPO(pad_id, beta=cfg.beta, loss=cfg.loss, label_smoothing=cfg.label_smoothing,
                 simpo_gamma=cfg.simpo_gamma, reference=reference, share_prompt=cfg.share_prompt)
    # the reference: the policy's starting point, copied (no --peft) or its base with the adapters off
    ref_model = copy.deepcopy(prepared.model) if reference == "model" else None
    if cfg.precompute_ref and reference != "none":
        source = ref_model if ref_model is not None else prepared.model
        with adapters_off(source), accelerator.autocast():  # the precision the training step will run at
            for pairs in (prepared.train, prepared.eval or []):
                method.precompute(source, pairs, cfg.batch_size, accelerator.device)
        ref_model = None
    if ref_model is not None:
        frozen["reference"] = ref_model
    if accelerator.is_main_process:
        config.save(cfg, out / "config.yaml")
    result = train(prepared.model, method, prepared.train, prepared.eval, cfg, out, run_config=config.to_dict(cfg),
                   frozen=frozen, accelerator=accelerator)
    trained = result.accelerator.unwrap_model(prepared.model)
    summary = {
        "model": cfg.model, "family": prepared.family, "template": prepared.template, "peft": cfg.peft,
        "loss": cfg.loss, "beta": cfg.beta, "reference": method.reference,
        "shared_prompt_forwards": method.shared_forwards,
        **parameter_summary(trained), **prepared.rows,
        "steps": result.step, "final_train_loss": result.train_loss, "initial_eval_loss": result.initial_eval_loss,
        "eval_loss": result.eval_loss, **{f"eval_{k}": v for k, v in result.eval_metrics.items()},
        "wall_time_sec": round(result.wall_time, 2),
    }
    if result.accelerator.is_main_process:
        save(prepared, trained, cfg, out)
        write_summary(out, summary, "dpo")
    return summary


def main(cfg: DPOConfig) -> int:
    """CLI entry: run and print the summary."""
    summary = run(cfg)
    for key in ("train_pairs", "eval_pairs", "steps", "final_train_loss", "eval_loss", "eval_reward_accuracy"):
        value = summary.get(key)
        print(f"  {key:<20} {f'{value:.4g}' if isinstance(value, float) else value}")
    print(f"policy saved to {Path(cfg.out) / ('adapter' if cfg.peft else 'model')}")
    return 0
