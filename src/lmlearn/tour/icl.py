"""Tour stage: in-context learning. The causal LM of stage 1 sorts review sentences into negative and
positive with 0 to 8 demonstrations in its prompt; no weight changes, only the prompt does.

The documents are single sentences, so eight demonstrations fit in the 256 positions the model
was trained on (a prompt beyond them reads positions it never learned, which is no test of
in-context learning); English and Korean are separate tasks, so demonstrations share the query's
language.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from lmlearn.errors import LmlearnError
from lmlearn.evaluation import harness
from lmlearn.evaluation.lm import load_model
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import paired_row

TASKS = ("opinion_sentiment", "opinion_sentiment_ko")
SHOTS = (0, 1, 2, 4, 8)


def stage(ctx: TourContext) -> StageResult:
    """Accuracy against the number of demonstrations, per language; each k-shot row against 0-shot."""
    model_dir = ctx.out / "clm" / "model"
    if not (model_dir / "config.json").is_file():
        raise LmlearnError(f"{model_dir}: no causal LM here; the icl stage scores the model the clm stage saves, "
                           "so run it after lmlearn.tour.clm:stage")
    lm = load_model(str(model_dir))
    rows, comparisons, items, curves, results = [], [], [], {}, {}
    for name in TASKS:
        task = load_task(name)
        accs, samples = {}, {}
        for shots in SHOTS:
            start = time.perf_counter()
            result, samples[shots] = harness.evaluate(task, lm, shots, batch_size=32, seed=ctx.seed)
            accs[shots], seconds = result["acc"], round(time.perf_counter() - start, 1)
            results[f"{name}/{shots}"] = result
            items.append(f"<li>{html.escape(name)}, {shots}-shot: accuracy {result['acc']:.3f} "
                         f"± {result['acc_stderr'] or 0:.3f} ({result['n']} sentences, {seconds} s)</li>")
        curves[name] = accs
        top = SHOTS[-1]
        rows.append({"stage": "icl", "framework": f"in-context learning, {top}-shot against 0-shot",
                     "model": "clm stage's model", "metric": f"{name} accuracy", "before": accs[0],
                     "after": accs[top], "wall_time_sec": seconds})
        comparisons.append(paired_row("icl", "0-shot", f"{top}-shot", f"{name} accuracy",
                                      [s["acc"] for s in samples[0]], [s["acc"] for s in samples[top]], ctx.seed))
    plot = _shots_curve(curves, ctx.out / "icl_shots.png")
    note = ("<p>The causal LM from stage 1, unchanged, scores 'negative' and 'positive' after each review sentence "
            "(the more likely one wins, as lm-evaluation-harness scores multiple choice), with 0 to 8 solved "
            "sentences of the same language before it. Chance is 0.5. In-context learning needs more than a "
            "corpus of prose at this size: it appears with scale (GPT-3), or in small models trained on bursty "
            "data (Chan et al. 2022) for far longer than the tour trains; docs/results.md measures both.</p>"
            f"<ul>{''.join(items)}</ul>")
    return StageResult(name="icl", title="In-context learning: accuracy against demonstrations", rows=rows,
                       html=note, plots=[plot], comparisons=comparisons,
                       data={"results": results, "model_dir": str(model_dir)})


def _shots_curve(curves: dict[str, dict[int, float]], png: Path) -> Path:
    from lmlearn.tour.plots import figure

    with figure(png, "demonstrations in the prompt", "accuracy", "In-context learning (clm stage's model)") as ax:
        for name, accs in curves.items():
            ax.plot(list(accs), list(accs.values()), "o-", label=name)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(list(SHOTS))
        ax.legend()
    return png
