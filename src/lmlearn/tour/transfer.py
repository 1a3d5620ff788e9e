"""Tour stage: transfer to a downstream task. The same electra-tiny classifier is trained on a few
hundred labelled reviews from scratch, and from the MLM and ELECTRA encoders of the encoders stage."""

from __future__ import annotations

from lmlearn.commands.finetune import FinetuneConfig, run
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import predictions_row

TRAIN, TEST = "builtin:sentiment?n=400&seed=1", "builtin:sentiment?n=400&seed=2"


def stage(ctx: TourContext) -> StageResult:
    """Fine-tune each starting point for the same steps on the same labelled subset."""
    mlm, electra = ctx.out / "encoder-mlm" / "model", ctx.out / "encoder-electra" / "model"
    starts = [("scratch", "from scratch (same architecture, random weights)", mlm, "random"),
              ("mlm", "MLM pre-trained + fine-tuned", mlm, "pretrained"),
              ("electra", "ELECTRA pre-trained + fine-tuned", electra, "pretrained")]
    steps = max(ctx.steps // 3, 1)
    rows, summaries = [], {}
    for name, framework, model, init in starts:
        cfg = FinetuneConfig(task="classify", model=str(model), init=init, data=TRAIN, eval_data=TEST,
                             block_size=128, batch_size=16, max_steps=steps, lr=1e-3, warmup_steps=steps // 10,
                             eval_every=0, save_every=steps, seed=ctx.seed, out=str(ctx.out / f"transfer-{name}"),
                             overwrite=True, progress=ctx.progress)
        summary = summaries[name] = run(cfg)
        rows.append({"stage": "transfer", "framework": framework, "model": "electra-tiny",
                     "metric": "test accuracy (built-in sentiment)", "before": 0.5,
                     "after": summary["accuracy"], "wall_time_sec": summary["wall_time_sec"]})
    html = (f"<p>A sentiment classifier trained for {steps} steps on 400 labelled built-in reviews (three in five with "
            "a contrast: 'the acting was dull, but ...'), tested on 400 others. All three share the electra-tiny "
            "architecture and tokenizer; they differ only in the weights they start from. 'Before' is chance "
            "(two balanced classes).</p>")
    runs = {name: ctx.out / f"transfer-{name}" for name, *_ in starts}
    comparisons = [predictions_row("transfer", "from scratch", "MLM pre-trained + fine-tuned", runs["scratch"],
                                   runs["mlm"], ctx.seed),
                   predictions_row("transfer", "from scratch", "ELECTRA pre-trained + fine-tuned", runs["scratch"],
                                   runs["electra"], ctx.seed),
                   predictions_row("transfer", "MLM pre-trained + fine-tuned", "ELECTRA pre-trained + fine-tuned",
                                   runs["mlm"], runs["electra"], ctx.seed, electra_components=_components(ctx))]
    return StageResult(name="transfer", title="Transfer: from scratch against pre-trained + fine-tuned",
                       rows=rows, html=html, data={"summaries": summaries, "steps": steps}, comparisons=comparisons)


def _components(ctx: TourContext) -> dict[str, float]:
    """ELECTRA's loss components at the end of its pre-training (the encoders stage's last metrics line)."""
    from lmlearn.engine.metrics import read_metrics

    rows = read_metrics(ctx.out / "encoder-electra" / "metrics.jsonl")
    names = ("generator_loss", "discriminator_loss", "discriminator_accuracy", "replaced_fraction")
    return {name: rows[-1][name] for name in names if rows and name in rows[-1]}
