"""Reward modelling (InstructGPT's step 2): a scalar head trained on preference pairs with the
Bradley-Terry loss -log sigmoid(r_chosen - r_rejected - margin), plus, optionally, Eisenstein et al.
(2023)'s centering term c * (r_chosen + r_rejected)^2 that keeps rewards near zero."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmlearn.align.common import both_sides, collate_pairs, sequence_scores
from lmlearn.engine.method import Models, StepOutput


class RewardModeling:
    """The method: one forward over the chosen and rejected rows, the pairwise loss, a mean over pairs."""

    def __init__(self, pad_id: int, center_coefficient: float = 0.0):
        self.pad_id, self.center = pad_id, center_coefficient

    def collate(self, pairs: list, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Chosen and rejected rows, padded on the right; no randomness."""
        return collate_pairs(pairs, self.pad_id)

    def rewards(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(r_chosen, r_rejected), one per pair."""
        ids, mask, _ = both_sides(batch, self.pad_id)
        return sequence_scores(model, ids, mask).float().chunk(2)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        chosen, rejected = self.rewards(models.model, batch)
        diff = chosen - rejected
        loss = -F.logsigmoid(diff - batch["margin"]).mean()
        if self.center:
            loss = loss + self.center * ((chosen + rejected) ** 2).mean()
        metrics = {"accuracy": (diff > 0).float().mean(), "reward_margin": diff.mean().detach(),
                   "reward_chosen": chosen.mean().detach(), "reward_rejected": rejected.mean().detach()}
        return StepOutput(loss, diff.shape[0], metrics)
