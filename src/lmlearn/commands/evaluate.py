"""`lmlearn evaluate`: score a model on a YAML task (zero- and few-shot), the way lm-eval scores it
(the workflow: lmlearn.workflows.evaluate)."""

from __future__ import annotations

from lmlearn.workflows.evaluate import Config, run, samples_path

__all__ = ["Config", "run", "samples_path", "main"]


def main(cfg: Config) -> int:
    """CLI entry: evaluate and print a table of metric ± standard error per shot count."""
    report = run(cfg)
    print(f"task {report['task']}  model {report['model']}")
    print(f"{'shots':>5}  {'n':>5}  {'metric':<16} {'value':>10}  {'stderr':>8}")
    for k, res in report["results"].items():
        for name, value in res.items():
            if name in ("n", "seconds") or name.endswith("_stderr"):
                continue
            err = res.get(f"{name}_stderr")
            shown = "n/a" if value is None else f"{value:.4f}"
            print(f"{k:>5}  {res['n']:>5}  {name:<16} {shown:>10}  {'' if err is None else f'{err:.4f}':>8}")
    if cfg.out:
        print(f"wrote {cfg.out} and {samples_path(cfg.out)}")
    return 0
