"""The reward-KL frontier of PPO and DPO on the "write positive reviews" task (the DPO paper's IMDb figure, at
this machine's scale): PPO at several KL coefficients and DPO at several betas, each over seeds, every
policy scored on the same held-out review openings with the same sampling seed as its starting point.

Run `lmlearn recipe run --file recipes/rlhf-sentiment.yaml` first (it makes runs/rlhf/{sft,cls,pairs.jsonl}),
then:
    .venv/bin/python recipes/rlhf_frontier.py [--seeds 0,1,2] [--out runs/rlhf/frontier]
Writes OUT/frontier.json (a row per run, and per setting the mean reward and KL with a paired 95% bootstrap
interval of reward - start's reward, prompts and seeds resampled together) and OUT/frontier.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RUNS = Path("runs/rlhf")
HELD = "builtin:review_openings?n=120&seed=12"
PPO_KL = (0.05, 0.1, 0.2, 0.5)
DPO_BETA = (0.05, 0.1, 0.3, 1.0)
REWARD = dict(reward_model=str(RUNS / "cls"), reward_label="1", max_new_tokens=32)


def scores(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(RUNS / "frontier"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    from lmlearn.workflows.dpo import DPOConfig, run as dpo
    from lmlearn.workflows.ppo import PPOConfig, run as ppo
    from lmlearn.workflows.rollout import RolloutConfig, run as rollout
    from lmlearn.evaluation.paired import paired_bootstrap

    runs, per_prompt = [], {}
    for seed in seeds:
        for kl in PPO_KL:
            folder = out / f"ppo-kl{kl}-s{seed}"
            if not (folder / "summary.json").is_file():
                ppo(PPOConfig(model=str(RUNS / "sft"), data="builtin:review_openings?n=480&seed=11", eval_data=HELD,
                              rollout_batch=64, batch_size=16, ppo_epochs=4, max_steps=160, lr=1e-4, kl_coef=kl,
                              seed=seed, out=str(folder), overwrite=True, progress=False, **REWARD))
            s = json.loads((folder / "summary.json").read_text())
            runs.append({"method": "PPO", "setting": f"kl_coef {kl}", "seed": seed, "score": s["eval_score"],
                         "kl": s["eval_kl"], "start_score": s["start_score"]})
            per_prompt[("PPO", kl, seed)] = scores(folder / "eval_samples.jsonl")
            per_prompt[("start", None, seed)] = scores(folder / "start_samples.jsonl")
        for beta in DPO_BETA:
            folder = out / f"dpo-beta{beta}-s{seed}"
            if not (folder / "eval_samples.jsonl").is_file():
                dpo(DPOConfig(model=str(RUNS / "sft" / "model"), data=str(RUNS / "pairs.jsonl"), eval_fraction=0.1,
                              beta=beta, block_size=128, batch_size=16, max_steps=150, lr=1e-4, warmup_steps=10,
                              eval_every=0, seed=seed, out=str(folder), overwrite=True, progress=False))
                rollout(RolloutConfig(model=str(folder), reference=str(RUNS / "sft" / "model"), data=HELD, seed=seed,
                                      out=str(folder / "eval_samples.jsonl"), **REWARD))
            rows = scores(folder / "eval_samples.jsonl")
            runs.append({"method": "DPO", "setting": f"beta {beta}", "seed": seed,
                         "score": sum(r["score"] for r in rows) / len(rows), "kl": sum(r["kl"] for r in rows) / len(rows)})
            per_prompt[("DPO", beta, seed)] = rows
    settings = []
    for method, values in (("PPO", PPO_KL), ("DPO", DPO_BETA)):
        for value in values:
            a, b = [], []
            for seed in seeds:  # against the starting policy's answers to the same prompts, same sampling seed
                a += [r["score"] for r in per_prompt[("start", None, seed)]]
                b += [r["score"] for r in per_prompt[(method, value, seed)]]
            diff = paired_bootstrap(a, b, iters=2000, seed=0)
            mine = [r for r in runs if r["method"] == method and r["setting"].endswith(f" {value}")]
            settings.append({"method": method, "setting": mine[0]["setting"], "seeds": seeds,
                             "score": sum(r["score"] for r in mine) / len(mine),
                             "kl": sum(r["kl"] for r in mine) / len(mine), "start_score": diff["a"],
                             "gain": diff["difference"], "gain_low": diff["low"], "gain_high": diff["high"]})
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.json").write_text(json.dumps({"runs": runs, "settings": settings}, indent=2) + "\n")
    plot(settings, runs, out / "frontier.png")
    for s in settings:
        print(f"{s['method']} {s['setting']:<14} reward {s['score']:6.2f} (start {s['start_score']:.2f}, gain "
              f"{s['gain']:+.2f} [{s['gain_low']:+.2f}, {s['gain_high']:+.2f}])  KL {s['kl']:6.2f} nats")


def plot(settings: list[dict], runs: list[dict], path: Path) -> None:
    from lmlearn.tour.plots import figure

    with figure(path, "KL to the starting policy (nats per answer)", "reward (classifier log-odds of positive)",
                "Reward-KL frontier: PPO (kl_coef) vs DPO (beta)") as ax:
        for method, marker in (("PPO", "o"), ("DPO", "s")):
            mine = [r for r in runs if r["method"] == method]
            ax.scatter([r["kl"] for r in mine], [r["score"] for r in mine], marker=marker, alpha=0.35, s=18)
            means = [s for s in settings if s["method"] == method]
            ax.plot([s["kl"] for s in means], [s["score"] for s in means], marker=marker, label=method)
            for s in means:
                ax.annotate(s["setting"].split()[-1], (s["kl"], s["score"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        start = settings[0]["start_score"]
        ax.axhline(start, color="grey", linestyle=":", label="starting policy")
        ax.legend()


if __name__ == "__main__":
    main()
