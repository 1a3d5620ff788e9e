"""Rewards for PPO and for evaluating a policy: a reward model trained by `lmlearn reward` (its one
output), a classifier trained by `lmlearn finetune --task classify` (the log-odds of one label, as the
field's "make GPT-2 write positive reviews" demos use a sentiment classifier), or a Python function
`module:function` taking (prompts, answers) as lists of strings and returning one float per answer."""

from __future__ import annotations

import math
from typing import Any

import torch

from lmlearn.align.common import pad_right, sequence_logits
from lmlearn.align.preferences import _with_answer, prompt_text
from lmlearn.align.rollout import Samples
from lmlearn.errors import LmlearnError


def keep_last(ids: list[int], limit: int, tokenizer: Any) -> list[int]:
    """The last `limit` tokens (the answer matters most), keeping a leading bos/[CLS]."""
    if len(ids) <= limit:
        return ids
    specials = {getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "cls_token_id", None)} - {None}
    return ids[:1] + ids[len(ids) - limit + 1:] if ids[0] in specials else ids[-limit:]


def answers_of(samples: Samples, tokenizer: Any) -> list[str]:
    """The answers' text, without the stop token or padding."""
    rows = []
    for ids, mask in zip(samples.input_ids.tolist(), samples.answer_mask.tolist()):
        rows.append(tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True))
    return rows


class Reward:
    """A reward: `score_texts(prompts, answers)`, and called on sampled answers, the same on their text."""

    policy_tokenizer: Any

    def score_texts(self, prompts: list[Any], answers: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, prompts: list[Any], samples: Samples) -> torch.Tensor:
        return self.score_texts(prompts, answers_of(samples, self.policy_tokenizer))


class ModelReward(Reward):
    """Scores from a model folder: a reward model's output, or a classifier's log-odds of `label`."""

    def __init__(self, folder: str, label: str | None, policy_tokenizer: Any, template: str, device: Any,
                 batch_size: int = 32):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from lmlearn.models.spec import resolve_model_dir

        path = resolve_model_dir(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        labels = {str(v): int(k) for k, v in self.model.config.id2label.items()}
        self.classifier = self.model.config.num_labels > 1
        if self.classifier and label not in labels:
            raise LmlearnError(f"--reward-model {folder} is a classifier with labels {', '.join(labels)}; name the one "
                               "to reward with --reward-label")
        self.label = labels.get(label) if self.classifier else None
        self.policy_tokenizer, self.template, self.device, self.batch_size = policy_tokenizer, template, device, batch_size
        self.max_length = self._max_length()

    def _ids(self, prompt: Any, answer: str) -> list[int]:
        if self.classifier:  # a classifier reads text as `finetune` gave it: the whole text of a continuation
            text = prompt + answer if isinstance(prompt, str) else answer
            ids = self.tokenizer(text)["input_ids"]
        else:
            ids, _ = _with_answer(prompt, answer, self.template, self.tokenizer)  # as `lmlearn reward` trained it
        return keep_last(ids, self.max_length, self.tokenizer)

    def _max_length(self) -> int:
        config = self.model.config
        limits = [getattr(config, "max_position_embeddings", None), getattr(config, "n_positions", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        # RoBERTa-style models count their padding offset in max_position_embeddings (514 for 512 tokens)
        return min([n for n in limits if isinstance(n, int) and 0 < n < 10**6] or [512]) - 2

    @torch.no_grad()
    def score_texts(self, prompts: list[Any], answers: list[str]) -> torch.Tensor:
        """One score per (prompt, answer)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out = []
        for start in range(0, len(answers), self.batch_size):
            rows = [self._ids(p, a) for p, a in zip(prompts[start:start + self.batch_size],
                                                    answers[start:start + self.batch_size])]
            ids = pad_right(rows, pad).to(self.device)
            mask = pad_right([[1] * len(r) for r in rows], 0).to(self.device)
            logits = sequence_logits(self.model, ids, mask).float()
            if self.classifier:  # log p(label) - log p(not label)
                chosen = logits[:, self.label]
                others = torch.cat([logits[:, :self.label], logits[:, self.label + 1:]], 1).logsumexp(-1)
                out.append(chosen - others)
            else:
                out.append(logits[:, 0])
        return torch.cat(out).cpu()


class FunctionReward(Reward):
    """A user's Python function `module:function(prompts, answers) -> list[float]`."""

    def __init__(self, spec: str, policy_tokenizer: Any, template: str):
        from lmlearn.registry import import_spec

        if ":" not in spec:
            raise LmlearnError(f"--reward {spec}: name a Python function as module:function")
        try:
            self.function = import_spec(spec)
        except (ImportError, AttributeError) as err:
            raise LmlearnError(f"--reward {spec}: {err}") from None
        self.spec, self.policy_tokenizer, self.template = spec, policy_tokenizer, template

    def score_texts(self, prompts: list[Any], answers: list[str]) -> torch.Tensor:
        texts = [prompt_text(p, self.template, self.policy_tokenizer) for p in prompts]
        scores = list(self.function(texts, answers))
        if len(scores) != len(answers) or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in scores):
            raise LmlearnError(f"--reward {self.spec} must return one finite number per answer ({len(answers)})")
        return torch.tensor(scores, dtype=torch.float32)


def make_reward(cfg: Any, tokenizer: Any, template: str, device: Any) -> Reward:
    """The reward `cfg` names: --reward-model FOLDER [--reward-label NAME], or --reward module:function."""
    if bool(cfg.reward_model) == bool(cfg.reward):
        raise LmlearnError("give one reward: --reward-model FOLDER (a reward model or a classifier with "
                           "--reward-label) or --reward module:function")
    if cfg.reward:
        return FunctionReward(cfg.reward, tokenizer, template)
    return ModelReward(cfg.reward_model, cfg.reward_label, tokenizer, template, device)
