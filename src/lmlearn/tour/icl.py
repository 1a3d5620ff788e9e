"""Tour stage: in-context learning. A small transformer pre-trained on word lists (one task per list,
named nowhere but in its lines) answers the same question under four tasks with 0 to 8
demonstrations in its prompt; no weight changes, only the prompt does.

Why its own model: in-context learning appears in small transformers when the pre-training text
has this structure, a latent task per document that the context reveals (Xie et al. 2022); the clm
stage's prose has little of it, and its model stays at chance with demonstrations (docs/results.md,
in-context learning). What is measured is task recognition (Pan et al. 2023): "cat →" asks for
"고양이" in one task and "animal" in another, so without demonstrations a model is right on exactly
one task of each pair (0.5 pooled, by construction), and only the demonstrations can say which
answer is wanted. Llama-tiny rather than gpt2-tiny: rotary positions and no dropout, with which the
copying heads this needs form within the tour's steps (docs/results.md measures both).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from lmlearn.evaluation import harness
from lmlearn.evaluation.lm import load_model
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.plots import loss_curve
from lmlearn.tour.summary import paired_row
from lmlearn.workflows.pretrain import PretrainConfig, run

TASKS = ("word_lists_en_ko", "word_lists_en_kind", "word_lists_ko_en", "word_lists_ko_kind")
SHOTS = (0, 1, 2, 4, 8)
DATA, MODEL, VOCAB = "builtin:word_lists?docs=8000", "llama-tiny", 4000
# Lists are 6-12 lines of about 5 tokens, and an 8-shot prompt about 60 tokens: 128 positions hold both.
BLOCK, BATCH, LR = 128, 16, 4e-3


def stage(ctx: TourContext) -> StageResult:
    """Pre-train on word lists, then accuracy against the number of demonstrations: per task, and pooled
    over the four tasks with the most shots against 0-shot (same test words, paired)."""
    out = ctx.out / "icl"
    cfg = PretrainConfig(objective="clm", model=MODEL, data=DATA, vocab_size=VOCAB, block_size=BLOCK,
                         batch_size=BATCH, max_steps=ctx.steps, lr=LR, warmup_steps=max(ctx.steps // 10, 1),
                         eval_every=max(ctx.steps // 10, 1), log_every=10, save_every=ctx.steps, seed=ctx.seed,
                         out=str(out), overwrite=True, progress=ctx.progress)
    summary = run(cfg)
    lm = load_model(str(out / "model"))
    curves, results, items, rows = {}, {}, [], []
    pooled: dict[int, list[float]] = {shots: [] for shots in SHOTS}
    start = time.perf_counter()
    for name in TASKS:
        task = load_task(name)
        accs = {}
        for shots in SHOTS:
            result, samples = harness.evaluate(task, lm, shots, batch_size=32, seed=ctx.seed)
            accs[shots], results[f"{name}/{shots}"] = result["acc"], result
            pooled[shots] += [s["acc"] for s in samples]
        curves[name] = accs
        items.append(f"<li>{html.escape(name)}: " + ", ".join(f"{k}-shot {a:.3f}" for k, a in accs.items())
                     + f" ({result['n']} words)</li>")
        rows.append({"stage": "icl", "framework": f"in-context learning, {SHOTS[-1]}-shot against 0-shot",
                     "model": f"{MODEL} (word lists)", "metric": f"{name} accuracy", "before": accs[0],
                     "after": accs[SHOTS[-1]], "wall_time_sec": summary["wall_time_sec"]})
    seconds = round(time.perf_counter() - start, 1)
    curves["pooled"] = {k: sum(v) / len(v) for k, v in pooled.items()}
    comparisons = [paired_row("icl", "0-shot", f"{k}-shot", "word lists accuracy (4 tasks pooled)", pooled[0],
                              pooled[k], ctx.seed) for k in (1, SHOTS[-1])]
    plots = [_shots_curve(curves, ctx.out / "icl_shots.png"),
             loss_curve(out / "metrics.jsonl", ctx.out / "icl_loss.png", f"Pre-training on word lists ({MODEL})")]
    note = ("<p>A small transformer pre-trained on word lists, each list following one of four tasks that "
            "only its lines reveal (English → Korean, English → kind, Korean → English, Korean → kind; "
            f"{summary['tokens_seen']:,} tokens, {summary['wall_time_sec']} s), answers \"cat →\" with "
            "\"고양이\" or \"animal\" (the more likely one wins, as lm-evaluation-harness scores multiple "
            "choice). The question and choices are the same under two tasks, so at 0 shots it is right on one "
            "of each pair: 0.5 pooled. Demonstrations of the task (other words) let it recognise which answer "
            "is wanted: task recognition, the part of in-context learning that appears at small scale (Xie et "
            "al. 2022, Pan et al. 2023). Learning a new mapping from demonstrations needs more (docs/results.md, "
            f"in-context learning). Scoring took {seconds} s.</p><ul>{''.join(items)}</ul>")
    return StageResult(name="icl", title="In-context learning: accuracy against demonstrations", rows=rows,
                       html=note, plots=plots, comparisons=comparisons,
                       data={"results": results, "pooled": curves["pooled"], "model_dir": str(out / "model"),
                             "summary": summary})


def _shots_curve(curves: dict[str, dict[int, float]], png: Path) -> Path:
    from lmlearn.tour.plots import figure

    with figure(png, "demonstrations in the prompt", "accuracy", "In-context learning (word lists)") as ax:
        for name, accs in curves.items():
            style = "o-" if name == "pooled" else ".--"
            ax.plot(list(accs), list(accs.values()), style, label=name.removeprefix("word_lists_"),
                    lw=2.5 if name == "pooled" else 1)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(list(SHOTS))
        ax.legend()
    return png
