"""Tour stage: knowledge distillation. The peft stage's fully fine-tuned classifier (2 layers) teaches a
1-layer student made of its first layer; the same student trained on the labels alone is the baseline.

Both students start from the same weights, see the same labelled reviews for the same steps at the
same rate, and are scored on the same test reviews: what differs is only the teacher's soft targets
(Hinton et al. 2015; DistilBERT's and TinyBERT's task stage). Fewer labels than the teacher saw, since
the teacher's soft targets carry what its larger labelled set taught it.
"""

from __future__ import annotations

from lmlearn.workflows.distill import Config as DistillConfig, run as distil
from lmlearn.workflows.finetune import FinetuneConfig, run as finetune
from lmlearn.errors import LmlearnError
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import predictions_row
from lmlearn.tour.transfer import TEST, train_data

LABELS = 400
LR = 1e-3  # the tour's fine-tuning rate (transfer stage); not tuned for distillation


def stage(ctx: TourContext) -> StageResult:
    """Distil the teacher into its first layer; train that student on the labels alone; compare."""
    teacher = ctx.out / "peft-full" / "model"
    if not (teacher / "config.json").is_file():
        raise LmlearnError(f"{teacher}: no classifier here; the distill stage's teacher is the peft stage's "
                           "full fine-tuning, so run it after lmlearn.tour.peft:stage")
    init = _student_init(teacher, ctx.out / "distill" / "student-init")
    steps = max(ctx.steps // 2, 1)
    common = dict(task="classify", data=train_data(LABELS, ctx.seed), eval_data=TEST, block_size=128,
                  batch_size=16, max_steps=steps, lr=LR, warmup_steps=steps // 10, eval_every=0, save_every=10 * steps,
                  seed=ctx.seed, overwrite=True, progress=ctx.progress)
    kd = distil(DistillConfig(method="kd", teacher=str(teacher), layers="0", temperature=2.0, alpha_hard=1.0,
                              out=str(ctx.out / "distill" / "kd"), **common))
    alone = finetune(FinetuneConfig(model=str(init), out=str(ctx.out / "distill" / "labels"), **common))
    rows = [{"stage": "distill", "framework": "teacher: full fine-tuning (peft stage), 2 layers", "model": "gpt2-tiny",
             "metric": "test accuracy (built-in sentiment)", "before": 0.5, "after": kd["teacher_accuracy"],
             "wall_time_sec": 0.0},
            {"stage": "distill", "framework": f"1-layer student on {LABELS} labels alone", "model": "gpt2-tiny, 1 layer",
             "metric": "test accuracy (built-in sentiment)", "before": 0.5, "after": alone["accuracy"],
             "wall_time_sec": alone["wall_time_sec"]},
            {"stage": "distill", "framework": f"1-layer student distilled (KD, T=2) on the same {LABELS}",
             "model": "gpt2-tiny, 1 layer", "metric": "test accuracy (built-in sentiment)", "before": 0.5,
             "after": kd["student_accuracy"], "wall_time_sec": kd["wall_time_sec"]}]
    html = (f"<p>The student keeps the teacher's embeddings, head and first layer: {kd['student_parameters']:,} "
            f"parameters against {kd['teacher_parameters']:,} ({kd['size_ratio']:.0%}; the embedding table is most "
            f"of a model this small), {kd['speedup']:.2f}x the teacher's inference speed, measured in the same "
            f"process. Distilled, it keeps {kd['student_share']:.1%} of the teacher's accuracy.</p>")
    comparisons = [predictions_row("distill", "student, labels alone", "student, distilled", ctx.out / "distill" / "labels",
                                   ctx.out / "distill" / "kd", ctx.seed, size_ratio=kd["size_ratio"],
                                   speedup=kd["speedup"], student_share=kd["student_share"])]
    return StageResult(name="distill", title="Distillation: a 1-layer student of the fine-tuned classifier",
                       rows=rows, html=html, comparisons=comparisons)


def _student_init(teacher, folder):
    """The teacher's first layer (with its embeddings and head) saved as a model folder, for the labels-only arm."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lmlearn.distill.student import student_from_teacher

    student = student_from_teacher(AutoModelForSequenceClassification.from_pretrained(teacher), [0])
    student.save_pretrained(folder)
    AutoTokenizer.from_pretrained(teacher).save_pretrained(folder)
    return folder
