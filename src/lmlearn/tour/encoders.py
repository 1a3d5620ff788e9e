"""Tour stage: pre-train the same tiny encoder with masked LM (BERT) and with replaced-token
detection (ELECTRA), for the same steps and batch, and report both."""

from __future__ import annotations

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.plots import loss_curve

# ELECTRA weighs its discriminator loss 50x, so it takes a smaller step (its paper: 5e-4 for small).
FRAMEWORKS = [("mlm", "masked LM (BERT/RoBERTa)", 2e-3), ("electra", "replaced-token detection (ELECTRA)", 5e-4)]


def stage(ctx: TourContext) -> StageResult:
    """Both objectives on electra-tiny: one architecture, so only the learning signal differs."""
    rows, plots, notes = [], [], []
    steps = max(ctx.steps // 2, 1)
    for objective, framework, lr in FRAMEWORKS:
        out = ctx.out / f"encoder-{objective}"
        cfg = PretrainConfig(objective=objective, model="electra-tiny", data="builtin:corpus?docs=6000",
                             vocab_size=4000, block_size=128, batch_size=16, max_steps=steps, lr=lr,
                             warmup_steps=steps // 10, eval_every=max(steps // 5, 1), log_every=10,
                             save_every=steps, seed=ctx.seed, out=str(out), overwrite=True, progress=ctx.progress)
        summary = run(cfg)
        rows.append({"stage": "encoders", "framework": framework, "model": cfg.model,
                     "metric": "held-out loss (its own objective)", "before": summary["initial_eval_loss"],
                     "after": summary["eval_loss"], "wall_time_sec": summary["wall_time_sec"]})
        plots.append(loss_curve(out / "metrics.jsonl", ctx.out / f"encoder_{objective}_loss.png",
                                f"{framework} (electra-tiny)", ylabel="loss of its own objective"))
        notes.append(f"<li><b>{objective}</b>: learning rate {lr:g}, {summary['tokens_seen']:,} tokens "
                     f"in {summary['wall_time_sec']} s</li>")
    html = ("<p>The same electra-tiny encoder, pre-trained for the same number of steps and batch size. "
            "The two losses measure different tasks, so compare each against its own starting point; "
            "ELECTRA's time includes its generator, and its loss can rise again as the generator improves and "
            "its replacements get harder to detect. Which encoder transfers better is measured by "
            "fine-tuning both on the same task.</p><ul>" + "".join(notes) + "</ul>")
    return StageResult(name="encoders", title="Encoder pre-training: MLM against ELECTRA", rows=rows,
                       html=html, plots=plots)
