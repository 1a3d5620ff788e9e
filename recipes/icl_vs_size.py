"""Few-shot accuracy against model size (issue 18's scale ablation, on the tour's in-context-learning task).

  python recipes/icl_vs_size.py OUT [STEPS] [SEEDS]      # e.g. runs/icl-size 150 0,1,2

Each llama ladder size from 33k to 1.1M non-embedding parameters is pre-trained on the same word lists
(`builtin:word_lists?docs=8000`, the tour's icl stage's data, block 128, batch 16) for the same STEPS, at
the learning rate of Kaplan et al.'s rule (the sweep's, `lmlearn.scaling.sweep.kaplan_lr`), then scored on
the four `word_lists_*` tasks at 0-8 shots (pooled over the 136 task-word prompts; 0-shot is 0.5 by
construction). Equal tokens for every size: what differs is only how much each size makes of them. Writes
OUT/points.csv (preset, N, seed, shots, accuracy), OUT/summary.csv (mean over seeds and the 8-shot gain's
paired interval per size, seeds pooled) and OUT/icl_vs_size.png. A size trained before is read back.
"""

import csv
import json
import sys
from pathlib import Path

from lmlearn.evaluation import harness
from lmlearn.evaluation.lm import load_model
from lmlearn.evaluation.paired import paired_bootstrap
from lmlearn.evaluation.task import load_task
from lmlearn.scaling.sweep import kaplan_lr
from lmlearn.tour import icl
from lmlearn.workflows.pretrain import PretrainConfig, run

SIZES = ("llama-0.02m", "llama-0.05m", "llama-0.1m", "llama-0.3m", "llama-1m")


def point(out: Path, preset: str, steps: int, seed: int) -> tuple[int, dict[int, list[float]]]:
    """Pre-train one size (or read it back) and score it; the per-prompt accuracies by shots."""
    folder = out / f"{preset}-s{seed}"
    scores_file = folder / "icl_scores.json"
    if scores_file.is_file():
        saved = json.loads(scores_file.read_text())
        return saved["non_embedding_parameters"], {int(k): v for k, v in saved["scores"].items()}
    from lmlearn.models.factory import describe_presets

    n = next(r["non_embedding_parameters"] for r in describe_presets() if r["name"] == preset)
    run(PretrainConfig(objective="clm", model=preset, data=icl.DATA, vocab_size=icl.VOCAB, block_size=icl.BLOCK,
                       batch_size=icl.BATCH, max_steps=steps, lr=kaplan_lr(n), warmup_steps=max(steps // 10, 1),
                       eval_every=0, save_every=steps, seed=seed, out=str(folder), overwrite=True, progress=False))
    lm = load_model(str(folder / "model"))
    scores: dict[int, list[float]] = {k: [] for k in icl.SHOTS}
    for name in icl.TASKS:
        task = load_task(name)
        for shots in icl.SHOTS:
            _, samples = harness.evaluate(task, lm, shots, batch_size=32, seed=seed)
            scores[shots] += [s["acc"] for s in samples]
    scores_file.write_text(json.dumps({"non_embedding_parameters": n, "scores": scores}))
    return n, scores


def main(out: str, steps: int = 150, seeds: str = "0,1,2") -> None:
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    seed_list = [int(s) for s in seeds.split(",")]
    points, summary = [], []
    for preset in SIZES:
        zero, top, n = [], [], 0
        for seed in seed_list:
            n, scores = point(root, preset, steps, seed)
            for shots, accs in scores.items():
                points.append({"preset": preset, "non_embedding_parameters": n, "seed": seed, "shots": shots,
                               "accuracy": round(sum(accs) / len(accs), 4)})
            zero += scores[0]
            top += scores[icl.SHOTS[-1]]
        gain = paired_bootstrap(zero, top, iters=2000, seed=0)
        means = {k: sum(p["accuracy"] for p in points if p["preset"] == preset and p["shots"] == k) / len(seed_list)
                 for k in icl.SHOTS}
        summary.append({"preset": preset, "non_embedding_parameters": n,
                        **{f"acc_{k}shot": round(v, 3) for k, v in means.items()},
                        "gain_8shot": round(gain["difference"], 3), "low": round(gain["low"], 3),
                        "high": round(gain["high"], 3)})
        print(json.dumps(summary[-1]), flush=True)
    for name, rows in (("points.csv", points), ("summary.csv", summary)):
        with open(root / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    _plot(summary, root / "icl_vs_size.png", steps)


def _plot(summary: list[dict], png: Path, steps: int) -> None:
    from lmlearn.tour.plots import figure

    with figure(png, "non-embedding parameters", "accuracy (4 tasks pooled)",
                f"Few-shot accuracy against size ({steps} steps on word lists)") as ax:
        ns = [row["non_embedding_parameters"] for row in summary]
        for k in icl.SHOTS:
            ax.plot(ns, [row[f"acc_{k}shot"] for row in summary], "o-", label=f"{k}-shot")
        ax.set_xscale("log")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.legend()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], *(int(a) if i == 0 else a for i, a in enumerate(sys.argv[2:])))
