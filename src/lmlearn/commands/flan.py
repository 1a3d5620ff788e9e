"""`lmlearn flan build`: FLAN-style instruction data: tasks mixed through templates, a cluster held out for zero-shot
evaluation (the workflow: lmlearn.workflows.flan)."""

from __future__ import annotations

from lmlearn.workflows.flan import Config, build

__all__ = ["Config", "build", "main"]


def main(cfg: Config) -> int:
    """Build, then print what went where and the commands that come next."""
    manifest = build(cfg)
    print(f"wrote {manifest['train_rows']} training rows from {len(manifest['counts'])} tasks in "
          f"{len(manifest['training_clusters'])} clusters ({', '.join(manifest['training_clusters'])}) "
          f"to {cfg.out}/train.jsonl")
    for task, n in manifest["counts"].items():
        print(f"  {task:<18} {n:>6}")
    for task, reason in manifest["left_out"].items():
        print(f"left out {task}: {reason}")
    for entry in manifest["eval"]:
        print(f"{manifest['eval_kind']} evaluation: {cfg.out}/{entry['file']} ({entry['docs']} documents)")
    if manifest["eval"]:
        print(f"evaluate with: lmlearn evaluate --model MODEL --task {cfg.out}/{manifest['eval'][0]['file']}")
    return 0
