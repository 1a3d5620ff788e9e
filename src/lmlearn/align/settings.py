"""Settings shared by the commands that sample from a policy (`ppo`, `pairs`, `rollout`): where the prompts
come from and how they are read, the reward, and the sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.config import option


@dataclass
class PromptSettings:
    """The prompts a policy answers."""

    data: str | None = option(None, "prompts: rows with a prompt (text, or messages ending with a user turn), "
                                    "preference rows (their shared prompt), or a text source, a prompt a line")
    prompt_column: str = option("auto", "the prompts' field (auto: prompt, else a preference row's, else text)")
    template: Literal["auto", "model", "chatml", "alpaca", "koalpaca"] = option(
        "auto", "chat template for conversational prompts (auto: the model's own, else chatml)")
    max_prompt_tokens: int = option(128, "keep the last this many tokens of each prompt", range=">=1")
    on_bad_rows: Literal["error", "skip"] = option("error", "stop at a malformed row, or skip and count it")


@dataclass
class RewardSettings:
    """The reward: one of a model folder or a Python function."""

    reward_model: str | None = option(None, "a reward model folder (`lmlearn reward`), or a classifier folder "
                                            "(`lmlearn finetune --task classify`) with --reward-label")
    reward_label: str | None = option(None, "with a classifier: the label whose log-odds is the reward")
    reward: str | None = option(None, "a Python reward function module:function(prompts, answers) -> floats")


@dataclass
class SamplingSettings:
    """How answers are sampled."""

    max_new_tokens: int = option(32, "longest answer sampled", range=">=1")
    temperature: float = option(1.0, "sampling temperature", range=">0")


@dataclass
class BatchSamplingSettings(SamplingSettings):
    """Sampling outside training (`pairs`, `rollout`): truncation allowed, prompts in batches, one seed."""

    top_k: int = option(0, "sample from the k most likely tokens (0: no limit; a KL measured on such answers is "
                           "then only indicative)", range=">=0")
    top_p: float = option(1.0, "nucleus sampling mass (below 1 a KL measured on the answers is only indicative)",
                          range="(0, 1]")
    batch_size: int = option(32, "prompts per batch", range=">=1")
    seed: int = option(0, "seed for sampling")
