"""Tour stage: parameter-efficient fine-tuning. LoRA on the clm stage's causal LM against full
fine-tuning of the same model: same task, labels and validation early stopping, each at its own
learning rate, each trained until its validation accuracy stops improving.

LoRA's claim (Hu et al. 2021) is that the update a task needs has low rank, so a rank-8 adapter
trained to convergence matches full fine-tuning; it is measured where that claim is made, with
enough labels and steps, not in the few-label regime of the transfer stage.
"""

from __future__ import annotations

from typing import Any

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import predictions_row
from lmlearn.tour.transfer import TEST, train_data

LABELS = 2000
# Chosen on validation data (builtin:sentiment seed 3, never the test reviews; docs/results.md, PEFT): LoRA
# 4e-3 from {1e-3, 2e-3, 3e-3, 4e-3, 8e-3} (8e-3 did not leave the plateau), rank 8 over 16 and 32, every
# linear layer over attention only, no weight decay (decay pulls the small update back to zero at this
# rate); full fine-tuning 1e-3. LoRA's few parameters need more steps, so its limit is twice full's, and
# its validation accuracy swings for hundreds of steps at that rate, so it stops only after 40 evaluations
# without a better one: in effect it runs its cosine decay to the end and keeps its best evaluation.
LORA = {"lr": 4e-3, "weight_decay": 0.0, "peft": "lora", "lora_r": 8,
        "lora_targets": "c_attn,attn.c_proj,c_fc,mlp.c_proj", "early_stopping": 40}
ARMS = [("full", "full fine-tuning", {"lr": 1e-3, "early_stopping": 8}, 2),
        ("lora", "LoRA (r=8, every linear layer)", LORA, 4)]


def stage(ctx: TourContext) -> StageResult:
    """Train each arm to convergence on the same labels; compare on the same test reviews."""
    model = ctx.out / "clm" / "model"
    rows, outs = [], {}
    for name, framework, settings, steps in ARMS:
        out = outs[name] = ctx.out / f"peft-{name}"
        cfg = FinetuneConfig(task="classify", model=str(model), data=train_data(LABELS, ctx.seed), eval_data=TEST,
                             validation_fraction=0.1, early_stopping_metric="accuracy",
                             eval_every=25, eval_batches=13,
                             max_steps=ctx.steps * steps, warmup_steps=60, block_size=128, batch_size=16,
                             save_every=100_000, log_every=25, seed=ctx.seed, out=str(out), overwrite=True,
                             progress=ctx.progress, **settings)
        summary: dict[str, Any] = run(cfg)
        share = f"{summary['trainable_parameters']:,} trainable ({summary['trainable_percent']:.2g}%)"
        rows.append({"stage": "peft", "framework": f"{framework}: {share}", "model": "gpt2-tiny (clm stage)",
                     "metric": f"test accuracy (built-in sentiment, {LABELS} labels)", "before": 0.5,
                     "after": summary["accuracy"], "wall_time_sec": summary["wall_time_sec"]})
    html = (f"<p>The clm stage's causal LM fine-tuned as a sentiment classifier on {LABELS} labelled reviews, in "
            "full and with a rank-8 LoRA adapter on every linear layer (plus the new classifier head). Each arm "
            "keeps a tenth of its labels for validation and ends with the weights of its best validation accuracy "
            "(full fine-tuning stops after 8 evaluations without a better one, LoRA, slower and noisier, after "
            "40). The adapter folder holds only what trained; the base stays as it "
            "was.</p>")
    comparisons = [predictions_row("peft", "full fine-tuning", "LoRA (r=8)", outs["full"], outs["lora"], ctx.seed)]
    return StageResult(name="peft", title="PEFT: LoRA against full fine-tuning", rows=rows, html=html,
                       comparisons=comparisons)
