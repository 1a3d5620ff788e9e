"""Tour stage 1: train a tokenizer, pre-train a tiny GPT on the built-in corpus, sample from it."""

from __future__ import annotations

from lmlearn.workflows.generate import Config as GenerateConfig, generate
from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.plots import loss_curve

PROMPTS = ["Minjun lives in", "민준은", "Three plus four is", "The film was"]
DATA, VOCAB = "builtin:corpus?docs=6000", 4000
# 256 positions: the icl stage's prompts (eight demonstrations) must stay inside the positions trained
BLOCK, BATCH = 256, 16


def stage(ctx: TourContext) -> StageResult:
    """Causal-LM pre-training (GPT): perplexity before and after, and samples."""
    out = ctx.out / "clm"
    cfg = PretrainConfig(objective="clm", model="gpt2-tiny", data=DATA, vocab_size=VOCAB,
                         block_size=BLOCK, batch_size=BATCH, max_steps=ctx.steps, lr=2e-3, warmup_steps=ctx.steps // 10,
                         eval_every=max(ctx.steps // 10, 1), log_every=10, save_every=ctx.steps, seed=ctx.seed,
                         out=str(out), overwrite=True, progress=ctx.progress)
    summary = run(cfg)
    samples = []
    for prompt in PROMPTS:
        text = generate(GenerateConfig(model=str(out), prompt=prompt, max_new_tokens=24, repetition_penalty=1.3))[0]
        samples.append((prompt, text))
    rows = [{"stage": "clm", "framework": "causal LM pre-training (GPT)", "model": cfg.model,
             "metric": "held-out perplexity", "before": summary["initial_eval_perplexity"],
             "after": summary["eval_perplexity"], "wall_time_sec": summary["wall_time_sec"]}]
    plot = loss_curve(out / "metrics.jsonl", ctx.out / "clm_loss.png", "Causal LM pre-training (gpt2-tiny)")
    items = "".join(f"<li><b>{_esc(p)}</b>{_esc(t)}</li>" for p, t in samples)
    html = (f"<p>{summary['parameters']:,} parameters, {summary['tokens_seen']:,} tokens seen, "
            f"{summary['wall_time_sec']} s. Greedy samples (repetition penalty 1.3):</p><ul>{items}</ul>")
    return StageResult(name="clm", title="Causal-LM pre-training", rows=rows, html=html, plots=[plot],
                       data={"summary": summary, "samples": samples, "model_dir": str(out / "model")})


def _esc(text: str) -> str:
    import html

    return html.escape(text)
