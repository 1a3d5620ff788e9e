"""Knowledge distillation for causal LMs: forward KL (Hinton et al. 2015; the usual KD), reverse KL
(MiniLLM, Gu et al. 2024) or GKD's generalized JSD (Agarwal et al. 2024), on fixed data or, for a
fraction `on_policy` of the batches, on continuations the student samples itself (GKD's lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from lmlearn.config import option
from lmlearn.distill.base import Distiller
from lmlearn.distill.losses import forward_kl, generalized_jsd, reverse_kl
from lmlearn.engine.method import Models, StepOutput
from lmlearn.objectives.clm import CausalLM


@dataclass
class KDOptions:
    """Settings of `--method kd`."""

    divergence: Literal["forward", "reverse", "jsd"] = option("forward", "kd: forward KL(teacher||student), "
                                                                         "reverse KL(student||teacher) or GKD's JSD")
    beta: float = option(0.5, "kd: JSD's beta (0: forward KL, 1: reverse KL)", range="[0, 1]")
    alpha_soft: float = option(1.0, "kd: weight of the divergence from the teacher (0, with --alpha-hard 1: the same "
                                    "student taught by the data alone, the control a distilled student is judged by)",
                               range=">=0")
    alpha_hard: float = option(0.0, "kd: weight of the student's own next-token loss on the data", range=">=0")
    on_policy: float = option(0.0, "kd: share of batches whose continuations the student samples (GKD's lambda)",
                              range="[0, 1]")


class KnowledgeDistillation(Distiller, CausalLM):
    """Token-level distillation of a causal LM into a smaller one on the same vocabulary."""

    name = "kd"
    Options = KDOptions

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Blocks as for `clm`, plus the seeded draws of on-policy sampling (whether, and its seed)."""
        batch = super().collate(examples, generator)
        batch["on_policy"] = (torch.rand((), generator=generator) < self.cfg.on_policy).long()
        batch["sample_seed"] = torch.randint(0, 2**62, (), generator=generator)
        return batch

    def divergence(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.divergence == "jsd":
            return generalized_jsd(student, teacher, cfg.beta, cfg.temperature)
        return (forward_kl if cfg.divergence == "forward" else reverse_kl)(student, teacher, cfg.temperature)

    @torch.no_grad()
    def sample(self, model: torch.nn.Module, ids: torch.Tensor, seed: int) -> tuple[torch.Tensor, int]:
        """The first half of each block, continued by the student's own samples to the block's length."""
        model = getattr(model, "module", model)  # generate on the model inside a DDP wrapper
        prompt = ids.shape[1] // 2
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = model.generate(ids[:, :prompt], attention_mask=torch.ones_like(ids[:, :prompt]), do_sample=True,
                                 max_new_tokens=ids.shape[1] - prompt, min_new_tokens=ids.shape[1] - prompt,
                                 top_k=0, pad_token_id=self.tokenizer.pad_token_id or 0)
        model.train(was_training)
        return out[:, :ids.shape[1]], prompt

    def step(self, models: Models, batch: dict[str, Any]) -> StepOutput:
        """The divergence over next-token predictions (the generated ones, on-policy), per token."""
        ids, start = batch["input_ids"], 0
        if int(batch["on_policy"]) and models.model.training:  # held-out batches stay fixed data
            ids, start = self.sample(models.model, ids, int(batch["sample_seed"]))
        with torch.no_grad():
            teacher = models["teacher"](input_ids=ids).logits[:, start:-1]
        logits = models.model(input_ids=ids).logits
        student = logits[:, start:-1]
        kl = self.divergence(student.flatten(0, 1), teacher.flatten(0, 1))
        metrics = {"kl": kl.detach()}
        loss = self.cfg.alpha_soft * kl
        if self.cfg.alpha_hard:
            hard = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten())
            loss = loss + self.cfg.alpha_hard * hard
            metrics["ce"] = hard.detach()
        return StepOutput(loss, student.shape[0] * student.shape[1], metrics)
