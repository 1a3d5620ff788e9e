"""Tour stage: parameter-efficient fine-tuning. LoRA on the MLM encoder against the full fine-tuning
of the transfer stage: same task, data, steps and starting weights."""

from __future__ import annotations

from lmlearn.commands.finetune import FinetuneConfig, run
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import predictions_row
from lmlearn.tour.transfer import TEST, TRAIN


def stage(ctx: TourContext) -> StageResult:
    """Train a LoRA adapter where the transfer stage fine-tuned every weight."""
    transfer = ctx.results["transfer"].data
    full, steps = transfer["summaries"]["mlm"], transfer["steps"]
    model = ctx.out / "encoder-mlm" / "model"
    # LoRA's few parameters take larger steps than full fine-tuning (Hu et al. use 4e-4 to 5e-4 on RoBERTa-base).
    cfg = FinetuneConfig(task="classify", model=str(model), data=TRAIN, eval_data=TEST, peft="lora", lora_r=8,
                         block_size=128, batch_size=16, max_steps=steps, lr=3e-3, warmup_steps=steps // 10,
                         eval_every=0, save_every=steps, seed=ctx.seed, out=str(ctx.out / "peft-lora"),
                         overwrite=True, progress=ctx.progress)
    lora = run(cfg)
    rows = []
    for framework, summary in (("full fine-tuning", full), ("LoRA (r=8)", lora)):
        share = f"{summary['trainable_parameters']:,} trainable ({summary['trainable_percent']:.2g}%)"
        rows.append({"stage": "peft", "framework": f"{framework}: {share}", "model": "electra-tiny (MLM)",
                     "metric": "test accuracy (built-in sentiment)", "before": 0.5, "after": summary["accuracy"],
                     "wall_time_sec": summary["wall_time_sec"]})
    html = ("<p>The MLM encoder of the encoders stage, fine-tuned on the transfer stage's task in full and "
            "with a LoRA adapter on its attention (plus the new classifier head), for the same steps. The adapter "
            "folder holds only what trained; the base stays as it was.</p>")
    comparisons = [predictions_row("peft", "full fine-tuning", "LoRA (r=8)", ctx.out / "transfer-mlm",
                                   ctx.out / "peft-lora", ctx.seed)]
    return StageResult(name="peft", title="PEFT: LoRA against full fine-tuning", rows=rows, html=html,
                       comparisons=comparisons)
