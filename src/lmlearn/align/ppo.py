"""PPO with a KL penalty (Ziegler et al. 2019; InstructGPT's step 3), as an online method on the engine.

Each rollout: sample answers to a batch of prompts with the KV cache, score them with the reward, and
compute per token the policy's and the reference's log-probabilities and the critic's values. The
per-token reward is -kl_coef * KL_t, plus the score on the answer's last token; GAE (gamma, lambda) turns
rewards and values into advantages (whitened over the rollout) and returns. Then `ppo_epochs` passes over
the rollout in shuffled micro-batches, each an engine step: the clipped policy loss, the clipped value
loss, both means over answer tokens. The KL coefficient is fixed or adaptive (target KL and horizon).

KL estimators per token, with r = log pi - log ref on the policy's own samples: k1 = r, k3 = exp(-r) - 1 + r
(Schulman's unbiased, always positive estimator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from lmlearn.align.common import adapters_off, unwrap
from lmlearn.align.rollout import Samples, answer_logits, gather_logps, positions, sample, token_logps
from lmlearn.engine.method import Models, StepOutput
from lmlearn.errors import LmlearnError


@dataclass
class PPOSettings:
    """The algorithm's knobs (flags of `lmlearn ppo`, see there)."""

    rollout_batch: int = 64
    ppo_epochs: int = 4
    max_new_tokens: int = 32
    temperature: float = 1.0
    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2
    clip_range_value: float = 0.2
    vf_coef: float = 0.1
    kl_coef: float = 0.05
    kl_estimator: str = "k1"
    target_kl: float = 0.0  # > 0: adaptive coefficient
    kl_horizon: int = 10000
    whiten_advantages: bool = True


class PolicyWithValue(torch.nn.Module):
    """The policy and its critic as one trainable module (DDP sees one forward): a value head on the
    policy's last hidden states, or on a separate critic body (`critic`: a causal LM whose transformer body,
    without its LM head, is kept) when given."""

    def __init__(self, policy: torch.nn.Module, critic: torch.nn.Module | None = None):
        super().__init__()
        self.policy = policy
        # the critic's body only: an LM head it never uses would get no gradient (DDP fails on that)
        self.critic = getattr(critic, critic.base_model_prefix) if critic is not None else None
        config = getattr(critic if critic is not None else policy, "config", None)
        width = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
        if width is None:
            raise LmlearnError(f"cannot find the hidden width of {type(policy).__name__} for a value head")
        self.value_head = torch.nn.Linear(width, 1)
        torch.nn.init.zeros_(self.value_head.weight)  # values start at 0: no critic opinion yet
        torch.nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_width: int,
                temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits predicting each answer token (B, R, V), values at those positions (B, R))."""
        shared = self.critic is None
        logits, hidden = answer_logits(self.policy, input_ids, attention_mask, prompt_width, temperature,
                                       with_hidden=shared)
        if not shared:
            hidden = self.critic(input_ids=input_ids, attention_mask=attention_mask,
                                 position_ids=positions(attention_mask)).last_hidden_state[:, prompt_width - 1:-1]
        return logits, self.value_head(hidden.float())[..., 0]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return masked_mean((x - masked_mean(x, mask)) ** 2, mask)


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std over the masked entries."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over answer tokens (B, R); positions past an answer's end carry no
    reward or value, so the last token's next value is 0. Returns (advantages, returns)."""
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    advantages = advantages * mask
    return advantages, advantages + values


def kl_per_token(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """KL(pi || ref) estimated at each sampled token (see the module's note)."""
    r = logp - ref_logp
    return r if estimator == "k1" else torch.expm1(-r) + r


class PPO:
    """The method: `produce` makes (and replays) rollouts, `step` is one clipped PPO update's loss."""

    online = True

    def __init__(self, prompts: list[Any], prompt_ids: list[list[int]], reward: Callable[..., torch.Tensor],
                 settings: PPOSettings, *, rows: int, seed: int, pad_id: int, stop_ids: list[int],
                 reference: str = "model"):
        if settings.rollout_batch % rows:
            raise LmlearnError(f"--rollout-batch {settings.rollout_batch} must be a multiple of the rows of one "
                               f"micro-batch ({rows}: --batch-size times the processes)")
        if len(prompt_ids) < settings.rollout_batch:
            raise LmlearnError(f"{len(prompt_ids)} prompts, fewer than one --rollout-batch of "
                               f"{settings.rollout_batch}")
        self.prompts, self.prompt_ids, self.reward, self.s = prompts, prompt_ids, reward, settings
        self.rows, self.seed, self.pad_id, self.stop_ids, self.reference = rows, seed, pad_id, stop_ids, reference
        self.micro_per_epoch = settings.rollout_batch // rows
        self.micro_per_rollout = self.micro_per_epoch * settings.ppo_epochs
        self.kl_coef = settings.kl_coef
        self.buffer: dict[str, Any] | None = None
        self.buffer_index = -1

    # --- rollouts ------------------------------------------------------------------------------

    def _prompt_indices(self, r: int) -> list[int]:
        per_epoch = len(self.prompt_ids) // self.s.rollout_batch
        epoch, pos = divmod(r, per_epoch)
        order = torch.randperm(len(self.prompt_ids), generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
        return order[pos * self.s.rollout_batch:(pos + 1) * self.s.rollout_batch].tolist()

    @torch.no_grad()
    def rollout(self, models: Models, r: int, generator: torch.Generator) -> dict[str, Any]:
        """Rollout `r`: answers, their old log-probabilities, values, advantages and returns."""
        s, module = self.s, unwrap(models.model)
        was_training = module.training
        module.eval()
        chosen = self._prompt_indices(r)
        samples = sample(module.policy, [self.prompt_ids[i] for i in chosen], s.max_new_tokens, self.pad_id,
                         self.stop_ids, generator, temperature=s.temperature)
        logits, values = module(samples.input_ids, samples.attention_mask, samples.prompt_width, s.temperature)
        logp = gather_logps(logits, samples.input_ids, samples.prompt_width)
        ref_logp = self.reference_logps(models, samples)
        mask = samples.answer_mask[:, samples.prompt_width:].float()
        scores = self.reward([self.prompts[i] for i in chosen], samples).to(logp.device).float()
        kl = kl_per_token(logp, ref_logp, s.kl_estimator) * mask
        rewards = -self.kl_coef * kl
        last = (mask.sum(1).long() - 1).clamp(min=0)
        rewards[torch.arange(len(last)), last] += scores
        advantages, returns = gae(rewards, values, mask, s.gamma, s.lam)
        if s.whiten_advantages:
            advantages = whiten(advantages, mask)
        seq_kl = kl.sum(1)
        stats = {"score": scores.mean(), "kl": seq_kl.mean(), "kl_coef": torch.tensor(self.kl_coef),
                 "answer_length": mask.sum(1).mean(), "rollout_entropy": -masked_mean(logp, mask),
                 "explained_variance": 1 - masked_var(returns - values, mask) / (masked_var(returns, mask) + 1e-8)}
        if s.target_kl > 0:  # Ziegler et al.'s proportional controller, the error clipped to +-0.2
            error = max(-0.2, min(0.2, float(seq_kl.mean()) / s.target_kl - 1))
            self.kl_coef *= 1 + error * s.rollout_batch / s.kl_horizon
        module.train(was_training)
        return {"input_ids": samples.input_ids, "attention_mask": samples.attention_mask,
                "answer_mask": samples.answer_mask, "old_logp": logp, "old_values": values,
                "advantages": advantages, "returns": returns, "prompt_width": samples.prompt_width,
                "stats": {k: float(v) for k, v in stats.items()}}

    def reference_logps(self, models: Models, samples: Samples) -> torch.Tensor:
        policy = unwrap(models.model).policy
        if self.reference == "adapters-off":
            with adapters_off(policy):
                return token_logps(policy, samples, self.s.temperature)
        return token_logps(models["reference"], samples, self.s.temperature)

    def produce(self, models: Models, g: int, generator: torch.Generator) -> dict[str, Any]:
        """Micro-batch g: rollout g // micro_per_rollout (made when first needed), replayed ppo_epochs times
        in a fresh seeded order each epoch."""
        r, k = divmod(g, self.micro_per_rollout)
        if self.buffer_index != r:
            self.buffer, self.buffer_index = self.rollout(models, r, generator), r
        epoch, j = divmod(k, self.micro_per_epoch)
        order = torch.randperm(self.s.rollout_batch,
                               generator=torch.Generator().manual_seed((self.seed * 1_000_003 + r) * 31 + epoch))
        idx = order[j * self.rows:(j + 1) * self.rows]
        batch = {key: value[idx.to(value.device)] for key, value in self.buffer.items()
                 if isinstance(value, torch.Tensor)}
        batch["prompt_width"] = self.buffer["prompt_width"]
        # the rollout's statistics ride along as one row each, so every process's shard keeps them
        batch.update({f"stat_{name}": torch.full((self.rows,), value) for name, value in self.buffer["stats"].items()})
        return batch

    # --- the update ----------------------------------------------------------------------------

    def step(self, models: Models, batch: dict[str, Any]) -> StepOutput:
        s, width = self.s, batch["prompt_width"]
        logits, values = models.model(batch["input_ids"], batch["attention_mask"], width, s.temperature)
        logp = gather_logps(logits, batch["input_ids"], width)
        mask = batch["answer_mask"][:, width:].float()
        advantages, returns = batch["advantages"], batch["returns"]
        # padding's log-probabilities are arbitrary: its log-ratio is set to 0, so exp cannot overflow into a NaN
        ratio = torch.exp(torch.where(mask.bool(), logp - batch["old_logp"], torch.zeros_like(logp)))
        policy_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - s.clip_range, 1 + s.clip_range))
        old_values = batch["old_values"]
        clipped = old_values + (values - old_values).clamp(-s.clip_range_value, s.clip_range_value)
        value_loss = 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)
        loss = masked_mean(policy_loss + s.vf_coef * value_loss, mask)
        with torch.no_grad():
            entropy = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1)
            metrics = {"policy_loss": masked_mean(policy_loss, mask), "value_loss": masked_mean(value_loss, mask),
                       "clip_fraction": masked_mean(((ratio - 1).abs() > s.clip_range).float(), mask),
                       "approx_kl": masked_mean(0.5 * torch.log(ratio) ** 2, mask),
                       "ratio": masked_mean(ratio, mask), "entropy": masked_mean(entropy, mask)}
            metrics.update({name[5:]: value.float().mean() for name, value in batch.items()
                            if name.startswith("stat_")})
        return StepOutput(loss, mask.sum(), metrics)

    # --- checkpoint state ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        buffer = None
        if self.buffer is not None:
            buffer = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in self.buffer.items()}
        return {"kl_coef": self.kl_coef, "buffer": buffer, "buffer_index": self.buffer_index}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kl_coef, self.buffer_index = state["kl_coef"], state["buffer_index"]
        self.buffer = state["buffer"]
