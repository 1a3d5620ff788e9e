"""Tour stage: alignment. The clm stage's causal LM learns to write positive reviews: the reward is the peft
stage's fully fine-tuned sentiment classifier (the log-odds of "positive"), the prompts are first sentences of
reviews the model has not read (`builtin:review_openings`). PPO samples, scores and updates with a KL penalty
to its starting point; DPO learns from pairs of the starting model's own answers that the classifier ranked.
Both are scored against the starting model on the same held-out openings with the same sampling seed: the
reward gained and the KL paid for it (the DPO paper's IMDb comparison, at tour scale).

Settings are common defaults, not tuned here: PPO's KL coefficient 0.2 and rate 1e-4 for a model this small,
DPO's beta 0.1 (the DPO paper's). docs/results.md ("Alignment") has the frontier over both and three seeds.
"""

from __future__ import annotations

from lmlearn.workflows.dpo import DPOConfig, run as dpo
from lmlearn.workflows.pairs import PairsConfig, run as pairs
from lmlearn.workflows.ppo import PPOConfig, run as ppo
from lmlearn.workflows.rollout import RolloutConfig, run as rollout
from lmlearn.errors import LmlearnError
from lmlearn.evaluation.paired import read_scores
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.summary import paired_row

TRAIN, HELD, PAIRS = ("builtin:review_openings?n=480&seed=11", "builtin:review_openings?n=120&seed=12",
                      "builtin:review_openings?n=600&seed=13")
METRIC = "reward: classifier log-odds of positive (held-out openings)"


def stage(ctx: TourContext) -> StageResult:
    """PPO and DPO from the clm stage's model against the compare stage's fine-tuned classifier; each against
    the start."""
    policy, classifier = ctx.out / "clm", ctx.out / "compare" / "arms" / "full" / f"seed-{ctx.seed}"
    for folder, stage_name in ((policy, "clm"), (classifier, "compare")):
        if not (folder / "model" / "config.json").is_file():
            raise LmlearnError(f"{folder}: no model here; the align stage needs the {stage_name} stage's")
    out = ctx.out / "align"
    reward = dict(reward_model=str(classifier), reward_label="1", max_new_tokens=32)
    steps = max(ctx.steps // 4, 16)  # a rollout of 64 answers is 16 steps (batch 16, 4 epochs)
    p = ppo(PPOConfig(model=str(policy), data=TRAIN, eval_data=HELD, rollout_batch=64, batch_size=16, ppo_epochs=4,
                      max_steps=steps, lr=1e-4, kl_coef=0.2, seed=ctx.seed, out=str(out / "ppo"), overwrite=True,
                      progress=ctx.progress, **reward))
    made = pairs(PairsConfig(model=str(policy), data=PAIRS, seed=ctx.seed, out=str(out / "pairs.jsonl"), **reward))
    d = dpo(DPOConfig(model=str(policy / "model"), data=str(out / "pairs.jsonl"), eval_fraction=0.1, beta=0.1,
                      block_size=128, batch_size=16, max_steps=steps, lr=1e-4, warmup_steps=steps // 10,
                      eval_every=0, seed=ctx.seed, out=str(out / "dpo"), overwrite=True, progress=ctx.progress))
    held = rollout(RolloutConfig(model=str(out / "dpo"), reference=str(policy / "model"), data=HELD, seed=ctx.seed,
                                 out=str(out / "dpo" / "eval_samples.jsonl"), **reward))
    start = read_scores([str(out / "ppo" / "start_samples.jsonl")], "score").scores
    comparisons = []
    for name, samples, kl in (("PPO (KL coefficient 0.2)", out / "ppo" / "eval_samples.jsonl", p["eval_kl"]),
                              ("DPO (beta 0.1)", out / "dpo" / "eval_samples.jsonl", held["kl"])):
        scores = read_scores([str(samples)], "score").scores
        comparisons.append(paired_row("align", "starting model (clm stage)", name, METRIC, start, scores, ctx.seed,
                                      kl_nats=round(kl, 3)))
    rows = [{"stage": "align", "framework": "starting model: the clm stage's LM", "model": "gpt2-tiny",
             "metric": METRIC, "before": p["start_score"], "after": p["start_score"], "wall_time_sec": 0.0},
            {"stage": "align", "framework": f"PPO, KL coefficient 0.2 (KL {p['eval_kl']:.1f} nats)",
             "model": "gpt2-tiny", "metric": METRIC, "before": p["start_score"], "after": p["eval_score"],
             "wall_time_sec": p["wall_time_sec"]},
            {"stage": "align", "framework": f"DPO, beta 0.1, {made['pairs']} ranked pairs (KL {held['kl']:.1f} nats)",
             "model": "gpt2-tiny", "metric": METRIC, "before": p["start_score"], "after": held["score"],
             "wall_time_sec": d["wall_time_sec"]}]
    html = ("<p>The reward is the compare stage's fully fine-tuned sentiment classifier: log p(positive) − "
            "log p(negative) of the opening and the answer. KL is log π(answer) − log π_start(answer) on the "
            "policy's own samples, in nats per answer: what the policy paid, in distance from the model it started as, for its reward. "
            "A large KL with a high reward is reward hacking (\"Rating: 5 out of 5.\" and little else); the KL "
            "penalty and beta hold it back.</p>")
    return StageResult(name="align", title="Alignment: PPO and DPO against a sentiment reward", rows=rows, html=html,
                       comparisons=comparisons)
