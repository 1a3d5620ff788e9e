"""Prompt tuning (Lester et al. 2021): learned embeddings of --num-virtual-tokens tokens before the input."""

from __future__ import annotations

import math
from typing import Any

import torch

from lmlearn.adapters.base import PEFT_TASK_TYPES, PeftMethod
from lmlearn.errors import LmlearnError
from lmlearn.families import DECODERS, ENCODER_DECODERS, FAMILIES

# Where peft's prepended embeddings work. It pads the labels of causal-lm only, so masked-lm and the
# pre-training heads would misalign (and peft has no masked-LM wrapper, which would skip the prompt);
# it shifts neither token labels nor answer positions; the BART and T5 classifiers take no embeddings;
# XLNet's permutation-LM masks cover the real tokens only.
PROMPT_SUPPORT = {
    "causal-lm": DECODERS,
    "seq2seq-lm": ENCODER_DECODERS,
    "sequence-classification": tuple(f for f in FAMILIES if f not in ENCODER_DECODERS),
}
PROMPT_WHY_NOT = "peft's virtual tokens shift the labels or inputs of this head, or the model takes no input embeddings"


def prompt_dims(model: Any) -> dict[str, int]:
    """Sizes peft reads from config keys some families name otherwise (DistilBERT's `dim`), and the
    embedding width, which ALBERT and ELECTRA keep below the hidden size."""
    config = model.config
    return {"token_dim": model.get_input_embeddings().embedding_dim, "num_layers": config.num_hidden_layers,
            "num_attention_heads": config.num_attention_heads}


class PromptTuning(PeftMethod):
    """Soft prompt: trainable input embeddings, from sampled vocabulary rows or --prompt-init-text."""

    name = "prompt"
    support = PROMPT_SUPPORT
    why_not = PROMPT_WHY_NOT

    def config(self, model: Any, family: str, task_type: str) -> Any:
        """A PromptTuningConfig; without init text the prompt starts from sampled vocabulary embeddings,
        which Lester et al. find far better than random ones (§3.2)."""
        from peft import PromptTuningConfig

        # peft's own text init reloads the tokenizer from a path saved in the adapter config, which
        # a trained tokenizer may not have; `init_weights` does the same from the tokenizer in hand.
        init = "RANDOM" if self.settings.prompt_init_text else "SAMPLE_VOCAB"
        return PromptTuningConfig(num_virtual_tokens=self.settings.num_virtual_tokens, prompt_tuning_init=init,
                                  task_type=PEFT_TASK_TYPES[task_type], **prompt_dims(model))

    def init_weights(self, model: Any, tokenizer: Any) -> None:
        """With --prompt-init-text: the text's token embeddings, repeated or cut to the prompt length."""
        text = self.settings.prompt_init_text
        if not text:
            return
        if tokenizer is None:
            raise ValueError("--prompt-init-text needs the tokenizer: pass it to apply_peft")
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise LmlearnError(f"--prompt-init-text {text!r} has no tokens; give some text")
        embedding = model.prompt_encoder[model.active_adapter].embedding
        n = embedding.weight.shape[0]
        ids = (ids * math.ceil(n / len(ids)))[:n]
        with torch.no_grad():
            embedding.weight.copy_(model.word_embeddings(torch.tensor(ids, device=embedding.weight.device)))
