"""Tour stage: instruction tuning, FLAN's way. The causal LM of the clm stage is tuned on built-in task
clusters phrased as instructions, with one cluster held out; the held-out tasks are scored zero-shot
before and after."""

from __future__ import annotations

from lmlearn.workflows import flan
from lmlearn.workflows.instruct import InstructConfig, run
from lmlearn.evaluation import harness
from lmlearn.evaluation.lm import load_model
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext

HELD_OUT = "sentiment"
TRAIN_TASKS = "sentiment,nli,paraphrase,topic,closed_qa,word_translation"


def _scores(model_dir: str, tasks: list, seed: int) -> dict[str, float]:
    lm = load_model(model_dir)
    return {name: harness.evaluate(task, lm, 0, batch_size=16, seed=seed)[0]["acc"] for name, task in tasks}


def stage(ctx: TourContext) -> StageResult:
    """Zero-shot accuracy of the held-out cluster, before and after tuning on the other clusters."""
    base = ctx.out / "clm" / "model"
    build = flan.Config(out=str(ctx.out / "flan"), tasks=TRAIN_TASKS, hold_out_cluster=HELD_OUT, max_per_task=300,
                        eval_size=100, template="alpaca", tokenizer=str(base), seed=ctx.seed, overwrite=True)
    manifest = flan.build(build)
    tasks = [(f"{e['task']}.{e['lang']}", load_task(str(ctx.out / "flan" / e["file"]))) for e in manifest["eval"]]
    before = _scores(str(base), tasks, ctx.seed)
    steps = max(ctx.steps // 2, 1)
    cfg = InstructConfig(model=str(base), data=str(ctx.out / "flan" / "train.jsonl"), template="alpaca",
                         packing=True, block_size=256, batch_size=8, max_steps=steps, lr=5e-4,
                         warmup_steps=steps // 10, eval_fraction=0.05, eval_every=0, save_every=steps,
                         seed=ctx.seed, out=str(ctx.out / "instruct"), overwrite=True, progress=ctx.progress)
    summary = run(cfg)
    after = _scores(str(ctx.out / "instruct" / "model"), tasks, ctx.seed)
    rows = [{"stage": "instruct", "framework": f"instruction tuning (FLAN), held-out {name}",
             "model": "clm stage's model", "metric": "zero-shot accuracy", "before": before[name],
             "after": after[name], "wall_time_sec": summary["wall_time_sec"]} for name, _ in tasks]
    trained = ", ".join(manifest["training_clusters"])
    html = (f"<p>The clm stage's model, tuned for {steps} steps on {manifest['train_rows']} instructions from the "
            f"clusters {trained} (alpaca template, packed), never seeing the <b>{HELD_OUT}</b> cluster; its "
            "tasks are then scored zero-shot by log-likelihood of the answer options, before and after. FLAN found "
            "the gain on unseen clusters only in large models; a model this small may not show it.</p>")
    return StageResult(name="instruct", title="Instruction tuning: a held-out cluster, before and after",
                       rows=rows, html=html, data={"manifest": manifest})
