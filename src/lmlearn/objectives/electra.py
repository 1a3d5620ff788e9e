"""ELECTRA: a small generator fills masked positions and the discriminator spots the replaced tokens.

Follows google-research/electra (run_pretraining.py, pretrain/pretrain_helpers.py): the generator is
a narrower BERT MLM of the same depth that shares the discriminator's embeddings; its samples are
written into the masked positions without a gradient path back; every non-pad token is then
classified as original or replaced, and loss = MLM(G) + disc_weight * BCE(D). Only D is kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from lmlearn.config import option
from lmlearn.data.blocks import framed_blocks
from lmlearn.engine.method import Models, StepOutput
from lmlearn.errors import LmlearnError
from lmlearn.objectives.base import Objective

# pretrain_helpers.mask: masked positions keep the [MASK] token with p=0.85 and the original token
# otherwise; unlike BERT there is no random replacement (the generator supplies the replacements).
MASK_TOKEN_PROB = 0.85


@dataclass
class ElectraOptions:
    """Settings of the `electra` objective."""

    mlm_probability: float = option(0.15, "fraction of tokens masked (ELECTRA-Large: 0.25)", range="(0, 1)")
    generator_size: float = option(0.25, "generator width as a fraction of the discriminator's "
                                         "(ELECTRA: 1/4 small and large, 1/3 base)", range="(0, 1]")
    disc_weight: float = option(50.0, "weight of the replaced-token-detection loss against the generator's MLM loss",
                                range=">=0")


def generator_config(disc: ElectraConfig, size: float) -> ElectraConfig:
    """The generator's config (run_pretraining.py:get_generator_config): width size*H, FFN 4h,
    max(1, h//64) heads, the same depth, and the discriminator's embedding size."""
    hidden = int(round(disc.hidden_size * size))
    if not 0 < size <= 1 or hidden < 1:
        raise LmlearnError(f"--generator-size must be in (0, 1] and leave at least one unit; got {size}")
    config = copy.deepcopy(disc)
    config.hidden_size, config.intermediate_size = hidden, 4 * hidden
    config.num_attention_heads = max(1, hidden // 64)
    config.architectures = None
    return config


def gumbel_sample(logits: torch.Tensor, seed: int) -> torch.Tensor:
    """One token per row of `logits` from softmax(logits) by the Gumbel-max trick, seeded for resumable runs."""
    gen = torch.Generator(device=logits.device).manual_seed(seed)
    uniform = torch.rand(logits.shape, generator=gen, device=logits.device)
    # the 1e-9 guards against log(0), as pretrain_helpers.sample_from_softmax does
    return (logits.float() - torch.log(-torch.log(uniform + 1e-9) + 1e-9)).argmax(-1)


def corrupt(input_ids: torch.Tensor, labels: torch.Tensor, sampled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Write `sampled` (one id per masked position, row-major) into the masked positions; return the
    discriminator's input and its targets, True where the token now differs from the original."""
    masked = labels != -100
    fake_ids = input_ids.masked_scatter(masked, sampled)
    # a sample equal to the original token counts as original (label 0), not as replaced
    return fake_ids, fake_ids != torch.where(masked, labels, input_ids)


@dataclass
class ElectraOutput:
    """The losses of one ELECTRA step and the discriminator's inputs and targets."""

    loss: torch.Tensor
    generator_loss: torch.Tensor
    discriminator_loss: torch.Tensor
    fake_ids: torch.Tensor
    replaced: torch.Tensor
    discriminator_accuracy: torch.Tensor  # over non-pad tokens: replaced or not, called right
    replaced_fraction: torch.Tensor  # of non-pad tokens: the discriminator's prior (all "original" scores 1 - this)


class GeneratorDiscriminator(nn.Module):
    """ELECTRA's two networks with shared token, position and segment embeddings.

    The whole step runs in `forward`, so distributed wrappers see one call and sync both networks.
    """

    def __init__(self, generator: ElectraForMaskedLM, discriminator: ElectraForPreTraining, disc_weight: float):
        super().__init__()
        self.generator, self.discriminator, self.disc_weight = generator, discriminator, disc_weight
        shared, own = discriminator.electra.embeddings, generator.electra.embeddings
        own.word_embeddings = shared.word_embeddings
        own.position_embeddings = shared.position_embeddings
        own.token_type_embeddings = shared.token_type_embeddings
        # the generator's output layer is its (now shared) input embedding, as in ELECTRA
        generator.generator_lm_head.weight = shared.word_embeddings.weight

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                sample_seed: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> ElectraOutput:
        """Generator MLM on the masked positions, sampling, then replaced-token detection on all non-pad tokens."""
        masked = labels != -100
        hidden = self.generator.electra(input_ids, attention_mask=attention_mask,
                                        token_type_ids=token_type_ids).last_hidden_state
        # the vocabulary projection only where there is something to predict (ELECTRA gathers them too)
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden[masked]))
        originals = labels[masked]
        generator_loss = F.cross_entropy(logits.float(), originals)
        with torch.no_grad():  # stop-gradient: D's loss never reaches G through the samples
            fake_ids, replaced = corrupt(input_ids, labels, gumbel_sample(logits, int(sample_seed)))
        disc_logits = self.discriminator(fake_ids, attention_mask=attention_mask,
                                         token_type_ids=token_type_ids).logits
        weight = attention_mask.float()
        discriminator_loss = F.binary_cross_entropy_with_logits(
            disc_logits.float(), replaced.float(), weight=weight, reduction="sum") / weight.sum()
        loss = generator_loss + self.disc_weight * discriminator_loss
        with torch.no_grad():
            real = attention_mask.bool()
            accuracy = ((disc_logits > 0) == replaced)[real].float().mean()
            replaced_fraction = replaced[real].float().mean()
        return ElectraOutput(loss, generator_loss, discriminator_loss, fake_ids, replaced, accuracy, replaced_fraction)


class Electra(Objective):
    """Replaced-token detection (ELECTRA) on [CLS] block [SEP] sequences of packed text."""

    name = "electra"
    head = "pretraining"
    families = ("electra",)
    Options = ElectraOptions
    token_loss = False  # generator MLM + 50 x discriminator BCE: exp(loss) is no perplexity

    def build_model(self, spec: str, seed: int) -> GeneratorDiscriminator:
        """The discriminator from the preset or folder, and a fresh generator sized from its config."""
        from lmlearn.models.factory import build_model, load_model

        discriminator = load_model(spec, self.head, self.tokenizer, seed=seed)
        generator = build_model(generator_config(discriminator.config, self.cfg.generator_size), "masked-lm",
                                seed=seed + 1)
        return GeneratorDiscriminator(generator, discriminator, self.cfg.disc_weight)

    def step(self, models: Models, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The summed loss over the non-pad tokens (the discriminator's units; its term dominates), with
        both losses, the discriminator's accuracy and the share of replaced tokens as metrics."""
        out = models.model(**batch)
        return StepOutput(out.loss, batch["attention_mask"].sum(), {
            "generator_loss": out.generator_loss.detach(), "discriminator_loss": out.discriminator_loss.detach(),
            "discriminator_accuracy": out.discriminator_accuracy, "replaced_fraction": out.replaced_fraction})

    def save(self, model: GeneratorDiscriminator, path: str | Path) -> None:
        """Keep only the discriminator (an ElectraForPreTraining folder), as ELECTRA does."""
        from lmlearn.models.factory import save_model

        save_model(model.discriminator, self.tokenizer, path)

    def prepare(self, ds: datasets.Dataset, *, what: str = "data") -> torch.Tensor:
        """Pack `ds` into blocks of block_size-2 tokens ([SEP] between documents), framed as [CLS] block [SEP]."""
        size, p = self.cfg.block_size, self.cfg.mlm_probability
        if size < 4 or int((p + 0.005) * size) < 1:
            raise LmlearnError(f"--block-size {size} leaves no token to mask at --mlm-probability {p}; "
                               "use a larger --block-size")
        tok = self.tokenizer
        return framed_blocks(ds, tok, text_column=self.cfg.text_column, block_size=size,
                             head=[tok.cls_token_id], tail=[tok.sep_token_id], what=what)

    def collate(self, examples: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Mask as pretrain_helpers.mask does: n = min(N, max(1, round(p * #non-pad))) positions per row,
        drawn among non-special tokens, 85% [MASK] and 15% unchanged."""
        tok, p, ids = self.tokenizer, self.cfg.mlm_probability, examples
        rows, length = ids.shape
        attention_mask = (ids != tok.pad_token_id).long()
        # _get_candidates_mask: everything but [CLS], [SEP], [MASK] and pad ([UNK] may be masked)
        never = torch.tensor([tok.cls_token_id, tok.sep_token_id, tok.mask_token_id, tok.pad_token_id])
        candidates = ~torch.isin(ids, never)
        budget = int((p + 0.005) * length)  # max_predictions_per_seq in configure_pretraining.py
        count = (attention_mask.sum(1) * p).round().clamp(min=1).clamp(max=budget).long()
        # distinct positions: a random order with the candidates first, cut at each row's count
        # (the reference draws with replacement, so its rare repeats mask slightly fewer tokens)
        scores = torch.rand(rows, length, generator=generator).masked_fill(~candidates, 2.0)
        order = scores.argsort(1)
        first = torch.arange(length).expand(rows, length) < count[:, None]
        masked = torch.zeros_like(candidates).scatter(1, order, first) & candidates
        to_mask_token = masked & (torch.rand(rows, length, generator=generator) < MASK_TOKEN_PROB)
        return {
            "input_ids": ids.masked_fill(to_mask_token, tok.mask_token_id),
            "attention_mask": attention_mask,
            "labels": ids.masked_fill(~masked, -100),
            # the generator's sampling happens in the loss, which gets no generator: a seed drawn here
            # keeps it a function of (seed, step) so resumed runs repeat
            "sample_seed": torch.randint(0, 2**62, (), generator=generator),
        }
