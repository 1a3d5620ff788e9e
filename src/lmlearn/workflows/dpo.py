"""Direct preference optimisation of a causal LM: DPO, IPO, hinge, SimPO (see docs/align.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    import copy

    from lmlearn.align.common import POLICY_FAMILIES, adapters_off, disable_dropout
    from lmlearn.align.dpo import REFERENCE_FREE, DPO
    from lmlearn.align.setup import prepare
    from lmlearn.driver import Driver

    driver = Driver(cfg, "dpo", families=POLICY_FAMILIES, what="DPO", head="causal-lm")
    cfg = driver.cfg
    prepared = prepare(driver, "causal-lm")
    tok = prepared.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if cfg.disable_dropout:
        disable_dropout(prepared.model)
    if cfg.loss == "simpo" and cfg.beta < 1:
        print(f"note: --loss simpo with --beta {cfg.beta}: SimPO's beta scales a mean log-probability per token "
              "(its paper uses 2 to 2.5 with --simpo-gamma about 0.5 to 1.5)")
    reference = "none" if cfg.loss in REFERENCE_FREE else ("adapters-off" if cfg.peft else "model")
    method = DPO(pad_id, beta=cfg.beta, loss=cfg.loss, label_smoothing=cfg.label_smoothing,
                 simpo_gamma=cfg.simpo_gamma, reference=reference, share_prompt=cfg.share_prompt)
    # the reference: the policy's starting point, copied (no --peft) or its base with the adapters off
    ref_model = copy.deepcopy(prepared.model) if reference == "model" else None
    if cfg.precompute_ref and reference != "none":
        source = ref_model if ref_model is not None else prepared.model
        with adapters_off(source), driver.accelerator.autocast():  # the precision the training step will run at
            for pairs in (prepared.train, prepared.eval or []):
                method.precompute(source, pairs, cfg.batch_size, driver.accelerator.device)
        ref_model = None
    result = driver.train(prepared.model, method, prepared.train, prepared.eval,
                          frozen={"reference": ref_model} if ref_model is not None else None)
    trained = driver.unwrap(prepared.model)
    summary = {
        **driver.trained_summary(trained), "template": prepared.template, "loss": cfg.loss, "beta": cfg.beta,
        "reference": method.reference, "shared_prompt_forwards": method.shared_forwards, **prepared.rows,
        **{f"eval_{k}": v for k, v in result.eval_metrics.items()}, "wall_time_sec": round(result.wall_time, 2),
    }
    driver.save(trained, tok)
    return driver.finish(summary)
