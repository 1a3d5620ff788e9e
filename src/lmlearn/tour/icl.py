"""Tour stage: in-context learning. The causal LM of stage 1 answers review_sentiment with 0, 1 and 5
demonstrations in its prompt; no weight changes, only the prompt does."""

from __future__ import annotations

import html
import time

from lmlearn.errors import LmlearnError
from lmlearn.evaluation import harness
from lmlearn.evaluation.lm import load_model
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import paired_row

TASK = "review_sentiment"
SHOTS = (0, 1, 5)


def stage(ctx: TourContext) -> StageResult:
    """Zero- against few-shot accuracy of the stage-1 model: one row per demonstration count, 0-shot as before."""
    model_dir = ctx.out / "clm" / "model"
    if not (model_dir / "config.json").is_file():
        raise LmlearnError(f"{model_dir}: no causal LM here; the icl stage scores the model the clm stage saves, "
                           "so run it after lmlearn.tour.clm:stage")
    task = load_task(TASK)
    lm = load_model(str(model_dir))
    results, seconds, samples = {}, {}, {}
    for shots in SHOTS:
        start = time.perf_counter()
        results[shots], samples[shots] = harness.evaluate(task, lm, shots, batch_size=16, seed=ctx.seed)
        seconds[shots] = round(time.perf_counter() - start, 1)
    zero = results[0]["acc"]
    rows = [{"stage": "icl", "framework": f"in-context learning, {k}-shot against 0-shot", "model": "clm stage's model",
             "metric": f"{TASK} accuracy", "before": zero, "after": results[k]["acc"], "wall_time_sec": seconds[k]}
            for k in SHOTS if k]
    items = "".join(f"<li>{k}-shot: accuracy {r['acc']:.3f} ± {r['acc_stderr'] or 0:.3f}, "
                    f"length-normalised {r['acc_norm']:.3f} ({r['n']} reviews, {seconds[k]} s)</li>"
                    for k, r in results.items())
    note = (f"<p>The causal LM from stage 1, unchanged, scores each answer of <code>{html.escape(TASK)}</code> "
            f"(English and Korean reviews; the more likely label wins, as lm-evaluation-harness scores multiple "
            f"choice) with 0, 1 and 5 solved examples put before the question. Chance is 0.5; a model this small "
            f"and briefly trained often gains little from demonstrations, which is itself the finding: in-context "
            f"learning appears with scale (GPT-3).</p><ul>{items}</ul>")
    comparisons = [paired_row("icl", "0-shot", f"{k}-shot", f"{TASK} accuracy", [s["acc"] for s in samples[0]],
                              [s["acc"] for s in samples[k]], ctx.seed) for k in SHOTS if k]
    return StageResult(name="icl", title="In-context learning: zero- against few-shot", rows=rows, html=note,
                       comparisons=comparisons,
                       data={"results": {str(k): r for k, r in results.items()}, "model_dir": str(model_dir)})
