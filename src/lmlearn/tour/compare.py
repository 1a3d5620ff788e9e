"""Tour stage: the tour's comparison, an `lmlearn compare` run of recipes/tour.yaml (this package's tour.yaml).
Full fine-tuning of the clm stage's causal LM against LoRA, and that fine-tuned classifier distilled into its
first layer against the same student taught by the labels alone: every arm a run folder of `compare`, scored
on the same test reviews, in compare's table and report; the tour's summary takes each defining pair.

LoRA's claim (Hu et al. 2021) is that the update a task needs has low rank, so a rank-8 adapter trained to
convergence matches full fine-tuning: it is measured where that claim is made, with enough labels and steps.
Distillation's (Hinton et al. 2015) is that a teacher's soft targets teach a student more than the labels do:
both students start from the same weights and see the same reviews, steps and rate; only the soft term differs.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_text
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import predictions_row

RECIPE = Path(__file__).with_name("tour.yaml")
RECIPE_STEPS = 600  # the tour's default --steps, at which the recipe's step counts are written
SCALED = ("max_steps", "warmup_steps")
PLACEHOLDER = "runs/tour/"  # the recipe's paths under the tour's default --out


def recipe_for(ctx: TourContext) -> dict[str, Any]:
    """The recipe as this tour runs it: its paths under the tour's --out, its seed, and every step count scaled
    by --steps (so `--steps 30` is the quick, rough tour it is everywhere else)."""
    text = RECIPE.read_text(encoding="utf-8").replace(PLACEHOLDER, f"{ctx.out.resolve().as_posix()}/")
    spec = yaml.safe_load(text)
    spec["seeds"] = [ctx.seed]
    spec["task"]["data"] = spec["task"]["data"].replace("seed=100", f"seed={100 + ctx.seed}")
    for arm in spec["arms"].values():
        for key in SCALED:
            if key in arm:
                arm[key] = max(round(arm[key] * ctx.steps / RECIPE_STEPS), 1)
    return spec


def stage(ctx: TourContext) -> StageResult:
    """Run the comparison (afresh: the clm stage's model it starts from was just trained), then read it."""
    from lmlearn.workflows.compare import Config, run

    if not (ctx.out / "clm" / "model" / "config.json").is_file():
        raise LmlearnError(f"{ctx.out / 'clm' / 'model'}: no model here; the compare stage fine-tunes the clm "
                           "stage's, so run it after lmlearn.tour.clm:stage")
    out = ctx.out / "compare"
    if out.exists():  # the arms of an earlier tour started from an earlier clm model
        shutil.rmtree(out)
    out.mkdir(parents=True)
    file, spec = out / "tour.yaml", recipe_for(ctx)
    atomic_write_text(file, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    result = run(Config(file=str(file), out=str(out), iters=2000))
    labels = spec["arms"]["student-kd"]["train_examples"]
    arms = {row["arm"]: row for row in result["arms"]}
    folder = {name: out / "arms" / name / f"seed-{ctx.seed}" for name in arms}
    kd = json.loads((folder["student-kd"] / "summary.json").read_text())
    lm, student = "gpt2-tiny (clm stage)", "gpt2-tiny, its first layer"
    rows = [_row("peft", f"full fine-tuning: {arms['full']['trainable_parameters']:,} trainable", lm, arms["full"]),
            _row("peft", f"LoRA (r=8, every linear layer): {arms['lora']['trainable_parameters']:,} trainable", lm,
                 arms["lora"]),
            _row("distill", f"1-layer student on {labels} labels alone", student, arms["student-labels"]),
            _row("distill", f"1-layer student distilled (KD, T=2) on the same {labels}", student, arms["student-kd"])]
    comparisons = [
        predictions_row("peft", "full fine-tuning", "LoRA (r=8)", folder["full"], folder["lora"], ctx.seed),
        predictions_row("distill", "student, labels alone", "student, distilled", folder["student-labels"],
                        folder["student-kd"], ctx.seed, size_ratio=kd["size_ratio"], speedup=kd["speedup"],
                        student_share=kd["student_share"])]
    page = (f"<p>An <code>lmlearn compare</code> run of <code>recipes/tour.yaml</code> (its folder: "
            f"<code>{html.escape(str(out))}</code>, with its own report.html). The clm stage's causal LM fine-tuned "
            "as a sentiment classifier on 2,000 labelled reviews, in full and with a rank-8 LoRA adapter on every "
            "linear layer; each keeps a tenth of its labels for validation and ends with the weights of its best "
            "validation accuracy. The fully fine-tuned classifier then teaches a student made of its first layer "
            "(with its embeddings "
            f"and head): {kd['student_parameters']:,} parameters against {kd['teacher_parameters']:,} "
            f"({kd['size_ratio']:.0%}; the embedding table is most of a model this small), {kd['speedup']:.2f}x the "
            f"teacher's inference speed in the same process, {kd['student_share']:.1%} of its accuracy; the same "
            f"student taught by the same {labels} labels alone is the control.</p><pre>"
            + html.escape(result["table"]) + "</pre>")
    plots = sorted(out.glob("*.png"))
    return StageResult(name="compare", title="Comparison: full fine-tuning, LoRA and distillation (lmlearn compare)",
                       rows=rows, html=page, plots=plots, comparisons=comparisons)


def _row(stage: str, framework: str, model: str, arm: dict[str, Any]) -> dict[str, Any]:
    return {"stage": stage, "framework": framework, "model": model, "metric": "test accuracy (built-in sentiment)",
            "before": 0.5, "after": arm["acc"], "wall_time_sec": arm["train_sec"]}
