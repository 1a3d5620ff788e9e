"""`lmlearn paired`: is run B better than run A on the same documents? The difference of two runs'
scores with a paired bootstrap interval, from `lmlearn evaluate --out` samples or `lmlearn finetune`
predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Config:
    """Settings of `lmlearn paired`."""

    a: str = option("", "run A's per-document files, comma-separated (pooled in order): evaluate's "
                        ".samples.jsonl or finetune's predictions.jsonl")
    b: str = option("", "run B's files, the same documents in the same order")
    metric: str = option("acc", "per-document field to compare (acc, acc_norm, exact_match, f1, ...)")
    iters: int = option(10000, "bootstrap resamples", range=">=1")
    level: float = option(0.95, "confidence level of the interval", range="(0, 1)")
    seed: int = option(0, "seed of the resampling")
    out: str = option("", "also write the result to this .json file")


def compare(cfg: Config) -> dict[str, Any]:
    """Read both sides, check they pair up, and bootstrap the difference B - A."""
    from lmlearn.evaluation.paired import check_paired, paired_bootstrap, read_scores

    if not cfg.a or not cfg.b:
        raise LmlearnError("lmlearn paired needs --a and --b (per-document files of two runs)")
    if not 0 < cfg.level < 1 or cfg.iters < 100:
        raise LmlearnError(f"--level must lie in (0, 1) and --iters be at least 100 (got {cfg.level}, {cfg.iters})")
    a = read_scores([p for p in cfg.a.split(",") if p], cfg.metric)
    b = read_scores([p for p in cfg.b.split(",") if p], cfg.metric)
    check_paired(a, b)
    result = {"metric": cfg.metric, "a_files": cfg.a, "b_files": cfg.b,
              **paired_bootstrap(a.scores, b.scores, cfg.iters, cfg.seed, cfg.level)}
    if cfg.out:
        import json

        from lmlearn.io import atomic_write_text

        atomic_write_text(cfg.out, json.dumps(result, indent=2) + "\n")
    return result


def main(cfg: Config) -> int:
    """CLI entry: print the comparison."""
    r = compare(cfg)
    pct = round(100 * r["level"])
    print(f"{r['metric']} over {r['n']} documents: A {r['a']:.4f}, B {r['b']:.4f}, "
          f"B - A {r['difference']:+.4f} ({pct}% paired bootstrap interval {r['low']:+.4f} to {r['high']:+.4f}; "
          f"B not better in {r['p_b_not_better']:.1%} of {r['iters']} resamples)")
    return 0
