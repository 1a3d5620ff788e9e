"""PPO: align a causal LM against a reward, with a KL penalty to the starting model (InstructGPT's step 3;
see docs/align.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lmlearn.adapters.settings import PeftSettings
from lmlearn.align.settings import PromptSettings, RewardSettings, SamplingSettings
from lmlearn.config import option
from lmlearn.engine.settings import TrainSettings


@dataclass
class PPOConfig(TrainSettings, PeftSettings, PromptSettings, RewardSettings, SamplingSettings):
    """Settings of `lmlearn ppo`."""

    model: str = option("runs/instruct", "the policy to start from (an SFT model folder); also the reference")
    eval_data: str | None = option(None, "held-out prompts for the final evaluation (default: --eval-fraction)")
    eval_fraction: float = option(0.1, "share of --data held out for the final evaluation", range="(0, 1)")
    rollout_batch: int = option(64, "prompts per rollout (a multiple of --batch-size)", range=">=1")
    ppo_epochs: int = option(4, "passes over each rollout", range=">=1")
    temperature: float = option(1.0, "sampling temperature of rollouts and of the log-probabilities PPO updates (no "
                                      "top-k or top-p: the policy sampled must be the policy scored)", range=">0")
    gamma: float = option(1.0, "discount", range="[0, 1]")
    lam: float = option(0.95, "GAE lambda", range="[0, 1]")
    clip_range: float = option(0.2, "policy ratio clip epsilon", range=">0")
    clip_range_value: float = option(0.2, "value clip around the rollout's values", range=">0")
    vf_coef: float = option(0.1, "weight of the value loss", range=">=0")
    kl_coef: float = option(0.05, "KL penalty coefficient (the initial one with --target-kl)", range=">=0")
    kl_estimator: Literal["k1", "k3"] = option("k1", "per-token KL estimate: k1 = log pi - log ref; k3 = "
                                                      "exp(-k1) - 1 + k1 (unbiased, never negative)")
    target_kl: float = option(0.0, "adaptive KL: steer the rollouts' mean KL to this (0: fixed --kl-coef)",
                              range=">=0")
    kl_horizon: int = option(10000, "adaptive KL horizon in answers (Ziegler et al.)", range=">=1")
    whiten_advantages: bool = option(True, "normalise advantages over each rollout")
    critic: Literal["shared", "separate"] = option("shared", "value head on the policy's body, or on its own copy "
                                                             "of the starting model")
    disable_dropout: bool = option(True, "switch dropout off (PPO's first epoch then has ratio 1)")
    eval_batch_size: int = option(32, "prompts per batch in the final evaluation", range=">=1")
    lr: float = option(1e-5, "peak learning rate", range=">0")
    warmup_steps: int = option(0, "linear warm-up steps", range=">=0")
    schedule: Literal["cosine", "linear", "constant"] = option("constant", "decay after warm-up")
    eval_every: int = option(0, "unused: PPO is evaluated once, at the end, on held-out prompts", range=">=0")
    out: str = option("runs/ppo", "output folder")


Config = PPOConfig


def _settings(cfg: PPOConfig) -> Any:
    from lmlearn.align.ppo import PPOSettings

    return PPOSettings(**{k: getattr(cfg, k) for k in PPOSettings.__dataclass_fields__})


def run(cfg: PPOConfig) -> dict[str, Any]:
    """Train the policy, evaluate it and its starting point on held-out prompts (reward and KL), and write
    OUT/model (with --peft: OUT/adapter), OUT/eval_samples.jsonl, OUT/start_samples.jsonl, OUT/metrics.jsonl
    and OUT/summary.json; return the summary."""
    import copy

    from transformers import set_seed

    from lmlearn.align.common import POLICY_FAMILIES, adapters_off, disable_dropout
    from lmlearn.align.evaluate import evaluate_policy
    from lmlearn.align.ppo import PPO, PolicyWithValue
    from lmlearn.align.prompts import policy_prompts, policy_tokenizer, read_prompts, refuse_prompt_learning
    from lmlearn.align.rewards import make_reward
    from lmlearn.data.sources import with_held_out
    from lmlearn.driver import Driver
    from lmlearn.models.spec import resolve_model_dir
    from lmlearn.errors import LmlearnError
    from lmlearn.models.factory import load_model

    if not cfg.data:
        raise LmlearnError("--data is required: the prompts to answer")
    resolve_model_dir(cfg.model)  # PPO starts from trained weights: a preset is refused before anything starts
    if cfg.peft:
        refuse_prompt_learning(cfg.peft, f"lmlearn ppo --peft {cfg.peft}")
    driver = Driver(cfg, "ppo", families=POLICY_FAMILIES, what="PPO", head="causal-lm")
    cfg = driver.cfg
    folder, tokenizer = policy_tokenizer(cfg.model)
    prompts, held = driver.read(lambda report: with_held_out(
        lambda spec: read_prompts(spec, cfg.prompt_column, cfg.on_bad_rows, report),
        cfg.data, cfg.eval_data, cfg.eval_fraction, cfg.seed))
    if isinstance(prompts[0], str) != isinstance(held[0], str):
        raise LmlearnError(f"--data and --eval-data must both be plain-text prompts or both conversations "
                           f"(--data {cfg.data}: {'text' if isinstance(prompts[0], str) else 'messages'})")
    train_p = policy_prompts(tokenizer, prompts, cfg.template, cfg.max_prompt_tokens)
    held_p = policy_prompts(tokenizer, held, cfg.template, cfg.max_prompt_tokens)
    template, pad_id, stop_ids = train_p.template, train_p.pad_id, train_p.stop_ids

    set_seed(cfg.seed)
    policy = load_model(folder, "causal-lm", tokenizer, seed=cfg.seed)
    reference = None if cfg.peft else copy.deepcopy(policy).eval()
    critic = copy.deepcopy(policy) if cfg.critic == "separate" else None
    model = PolicyWithValue(driver.adapt(policy, "causal-lm", tokenizer), critic)
    if cfg.disable_dropout:  # after peft, whose adapters bring dropout of their own
        disable_dropout(model)
        if reference is not None:
            disable_dropout(reference)
    accelerator = driver.accelerator
    reward = make_reward(cfg, tokenizer, template, accelerator.device)
    method = PPO(prompts, train_p.ids, reward, _settings(cfg), rows=cfg.batch_size * accelerator.num_processes,
                 seed=cfg.seed, pad_id=pad_id, stop_ids=stop_ids,
                 reference="adapters-off" if cfg.peft else "model")
    result = driver.train(model, method, None, None,
                          frozen={"reference": reference} if reference is not None else None)
    trained = driver.unwrap(model).policy
    evaluation = dict(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed,
                      batch_size=cfg.eval_batch_size, pad_id=pad_id, stop_ids=stop_ids)
    # the same held-out prompts and sampling seed for the trained policy and its starting point (KL 0)
    after, after_rows = evaluate_policy(trained, reference, held, held_p.ids, reward, tokenizer, **evaluation)
    with adapters_off(trained):  # without --peft, a no-op: the start is then the frozen reference
        start = trained if cfg.peft else reference.to(accelerator.device)
        before, before_rows = evaluate_policy(start, start, held, held_p.ids, reward, tokenizer, **evaluation)
    summary = {
        **driver.trained_summary(trained), "template": template, "critic": cfg.critic,
        "train_prompts": len(prompts), "eval_prompts": len(held),
        "rollouts": method.buffer_index + 1, "final_kl_coef": method.kl_coef,
        "start_score": before["score"], "eval_score": after["score"], "eval_score_se": after["score_se"],
        "eval_kl": after["kl"], "start_answer_tokens": before["answer_tokens"],
        "eval_answer_tokens": after["answer_tokens"], "wall_time_sec": round(result.wall_time, 2),
        "skipped_rows": driver.report.skipped,
    }
    driver.save(trained, tokenizer)
    driver.write("eval_samples.jsonl", after_rows)
    driver.write("start_samples.jsonl", before_rows)
    return driver.finish(summary)
