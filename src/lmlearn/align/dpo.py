"""Direct preference optimisation and its relatives: the policy learns from preference pairs directly,
with the reward implicit in its log-probability ratio to a frozen reference, r = beta * log(pi / pi_ref).

| loss | paper | per pair, with h = (log pi_c - log pi_r) - (log ref_c - log ref_r) |
|---|---|---|
| sigmoid | DPO, Rafailov et al. 2023 | -log sigmoid(beta h); label smoothing e: cDPO's (1-e) and e mix |
| ipo | IPO, Azar et al. 2023 | (h - 1 / (2 beta))^2, on log-probabilities averaged over answer tokens |
| hinge | SLiC, Zhao et al. 2023 | max(0, 1 - beta h) |
| simpo | SimPO, Meng et al. 2024 | -log sigmoid(beta (avg log pi_c - avg log pi_r) - gamma): no reference |

The reference is a frozen copy (slot "reference"), the base under a --peft policy's adapters (no second
copy), or log-probabilities computed once before training (`--precompute-ref`, then no reference model
is held at all).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lmlearn.align.common import adapters_off, answer_logps, both_sides, collate_pairs, shared_prompt_logps
from lmlearn.engine.method import Models, StepOutput
from lmlearn.errors import LmlearnError
from lmlearn.instruct.templates import IGNORE

LOSSES = ("sigmoid", "ipo", "hinge", "simpo")
AVERAGED = ("ipo", "simpo")  # losses on the mean log-probability per answer token
REFERENCE_FREE = ("simpo",)
SHARE_PROMPT = ("auto", "always", "never")  # not on/off: YAML reads those as booleans


class DPO:
    """The method. `reference` says where the reference log-probabilities come from: "model" (the frozen
    slot), "adapters-off" (a peft policy's base), "precomputed" (in the batch), "none" (SimPO)."""

    def __init__(self, pad_id: int, *, beta: float = 0.1, loss: str = "sigmoid", label_smoothing: float = 0.0,
                 simpo_gamma: float = 0.5, reference: str = "model", share_prompt: str = "auto"):
        if share_prompt not in SHARE_PROMPT:
            raise LmlearnError(f"--share-prompt {share_prompt}: one of {', '.join(SHARE_PROMPT)}")
        if loss not in LOSSES:
            raise LmlearnError(f"--loss {loss}: one of {', '.join(LOSSES)}")
        if loss in REFERENCE_FREE:
            reference = "none"
        self.pad_id, self.beta, self.loss_type = pad_id, beta, loss
        self.label_smoothing, self.gamma, self.reference = label_smoothing, simpo_gamma, reference
        self.share_prompt = share_prompt
        self.shared_forwards = 0  # training forwards that took the shared-prompt path (a test checks it is taken)

    def collate(self, pairs: list, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Chosen and rejected rows, padded on the right; no randomness."""
        return collate_pairs(pairs, self.pad_id)

    def logps(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(chosen, rejected) answer log-probabilities under `model`, summed or, for ipo and simpo, averaged
        over answer tokens: the shared prompt run once (`shared_prompt_logps`), else both full rows at once."""
        shared = shared_prompt_logps(model, batch, self.pad_id) if self._share(batch) else None
        if shared is not None:
            self.shared_forwards += torch.is_grad_enabled()
            total, count = shared
        else:
            total, count = answer_logps(model, *both_sides(batch, self.pad_id))
        if self.loss_type in AVERAGED:
            total = total / count.clamp(min=1)
        return total.chunk(2)

    def _share(self, batch: dict[str, torch.Tensor]) -> bool:
        """Whether to run the prompt once: "always", "never", or "auto": when the batch's prompt tokens outnumber its
        answers' (both sides). Measured on 2 CPU cores (docs/benchmarks.md): with prompts of 82 tokens and
        answers of 52 the two extra forwards cost more than they save (0.93x); with prompts of 270 and
        answers of 66, running the prompt once is 1.6-2x faster."""
        if self.share_prompt != "auto":
            return self.share_prompt == "always"
        prompt = (batch["chosen_labels"] != IGNORE).int().argmax(1).sum()
        answers = sum((batch[f"{side}_labels"] != IGNORE).sum() for side in ("chosen", "rejected"))
        return bool(prompt > answers)

    def reference_logps(self, models: Models, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference's (chosen, rejected) log-probabilities, without gradients."""
        if self.reference == "precomputed":
            return batch["ref_chosen"], batch["ref_rejected"]
        with torch.no_grad():
            if self.reference == "adapters-off":
                with adapters_off(models.model):
                    return self.logps(models.model, batch)
            return self.logps(models["reference"], batch)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        chosen, rejected = self.logps(models.model, batch)
        if self.reference == "none":
            ref_chosen = ref_rejected = torch.zeros_like(chosen)
        else:
            ref_chosen, ref_rejected = self.reference_logps(models, batch)
        loss = self.pair_losses(chosen, rejected, ref_chosen, ref_rejected).mean()
        reward_chosen = self.beta * (chosen - ref_chosen).detach()
        reward_rejected = self.beta * (rejected - ref_rejected).detach()
        metrics = {"reward_chosen": reward_chosen.mean(), "reward_rejected": reward_rejected.mean(),
                   "reward_margin": (reward_chosen - reward_rejected).mean(),
                   "reward_accuracy": (reward_chosen > reward_rejected).float().mean(),
                   "logp_chosen": chosen.detach().mean(), "logp_rejected": rejected.detach().mean()}
        return StepOutput(loss, chosen.shape[0], metrics)

    def pair_losses(self, chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor,
                    ref_rejected: torch.Tensor) -> torch.Tensor:
        """The loss of each pair (see the module's table)."""
        h = (chosen - rejected) - (ref_chosen - ref_rejected)
        if self.loss_type == "sigmoid":
            e = self.label_smoothing
            return -(1 - e) * F.logsigmoid(self.beta * h) - e * F.logsigmoid(-self.beta * h)
        if self.loss_type == "ipo":
            return (h - 1 / (2 * self.beta)) ** 2
        if self.loss_type == "hinge":
            return torch.relu(1 - self.beta * h)
        return -F.logsigmoid(self.beta * (chosen - rejected) - self.gamma)  # simpo

    def precompute(self, reference: torch.nn.Module, pairs: list[Any], batch_size: int, device: Any) -> None:
        """Attach the reference's log-probabilities to every pair (`ref_chosen`, `ref_rejected`), once."""
        reference = reference.to(device).eval()
        with torch.no_grad():
            for start in range(0, len(pairs), batch_size):
                chunk = pairs[start:start + batch_size]
                batch = {k: v.to(device) for k, v in collate_pairs(chunk, self.pad_id).items()}
                chosen, rejected = self.logps(reference, batch)
                for pair, c, r in zip(chunk, chosen.tolist(), rejected.tolist()):
                    pair.ref_chosen, pair.ref_rejected = c, r
        self.reference = "precomputed"
