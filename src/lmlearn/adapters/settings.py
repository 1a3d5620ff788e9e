"""Settings of the `--peft` methods (flags of every command that trains a model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.adapters import PEFT_METHODS
from lmlearn.config import option

PeftName = Literal[tuple(PEFT_METHODS)]  # the registry's names, so a new method needs no edit here


@dataclass
class PeftSettings:
    """Which parameter-efficient method trains the model, and its options (see docs/peft.md)."""

    peft: PeftName | None = option(None, "train an adapter instead of the whole model (see docs/peft.md)")
    lora_r: int = option(8, "lora/qlora: rank of the update B·A", range=">=1")
    lora_alpha: int = option(16, "lora/qlora: the update is scaled by lora_alpha / lora_r", range=">0")
    lora_dropout: float = option(0.05, "lora/qlora: dropout on the adapter's input", range="[0, 1)")
    lora_targets: str | None = option(
        None, "lora/qlora: comma-separated module names to adapt, or all-linear; unset, lora adapts the "
              "family's attention projections and qlora all-linear")
    ia3_targets: str | None = option(
        None, "ia3: comma-separated module names whose activations are rescaled; unset, the family's keys, "
              "values and feed-forward output")
    num_virtual_tokens: int = option(20, "prefix/prompt/ptuning: number of virtual tokens", range=">=1")
    prompt_init_text: str | None = option(
        None, "prompt: initialise the virtual tokens from this text's token embeddings; unset, from sampled "
              "vocabulary rows")
    ptuning_hidden_size: int | None = option(
        None, "ptuning: hidden size of the prompt encoder; unset, the model's embedding width", range=">=1")
    ptuning_encoder: Literal["mlp", "lstm"] = option("mlp", "ptuning: prompt encoder (the P-tuning paper used an LSTM)")
    adapter_len: int = option(10, "llama-adapter: adaption prompt tokens per layer", range=">=1")
    adapter_layers: int | None = option(None, "llama-adapter: top layers that get a prompt; unset, all", range=">=1")
