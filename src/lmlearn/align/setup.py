"""What the reward and DPO workflows do around their method: read and split the pairs, find the
tokenizer and chat template, build the model (and its adapter), tokenize, and save the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.engine.settings import TrainSettings
from lmlearn.errors import LmlearnError
from lmlearn.models.settings import ModelSettings


@dataclass
class PreferenceSettings(TrainSettings, PeftSettings, ModelSettings):
    """Settings shared by the commands that learn from preference pairs."""

    data: str | None = option(None, "preference pairs: prompt/chosen/rejected rows, or chosen/rejected dialogues "
                                    "sharing their prompt (Anthropic HH), JSON lines or a saved dataset")
    eval_data: str | None = option(None, "held-out pairs (default: --eval-fraction of --data)")
    eval_fraction: float = option(0.1, "fraction of the pairs held out when --eval-data is not given", range="[0, 1)")
    layout: Literal["auto", "explicit", "implicit"] = option(
        "auto", "explicit: a prompt field; implicit: the prompt is what chosen and rejected share (auto: detected)")
    template: Literal["auto", "model", "chatml", "alpaca", "koalpaca"] = option(
        "auto", "chat template for conversational pairs (auto: the model's own, else chatml); plain-text prompts "
                "are continued as they are")
    block_size: int = option(512, "most tokens of prompt and answer (the prompt's start is cut first)", range=">=2")
    on_bad_rows: Literal["error", "skip"] = option("error", "stop at a malformed row, or skip and count it")


@dataclass
class Prepared:
    """Everything a preference run trains with."""

    model: Any
    tokenizer: Any
    family: str
    template: str  # "none" for plain-text prompts
    train: list
    eval: list | None
    rows: dict[str, int]


def split_pairs(cfg: PreferenceSettings, report: Any) -> tuple[list, list | None]:
    """Training and held-out pairs: --eval-data, or a seeded --eval-fraction of --data."""
    from lmlearn.align.preferences import read_pairs
    from lmlearn.data.sources import with_held_out

    if not cfg.data:
        raise LmlearnError("--data is required: preference pairs (prompt/chosen/rejected or chosen/rejected rows)")
    return with_held_out(lambda spec: read_pairs(spec, cfg.layout, cfg.on_bad_rows, report), cfg.data,
                         cfg.eval_data, cfg.eval_fraction, cfg.seed)


def _texts(pairs: list) -> list[str]:
    """What a new tokenizer learns from: prompts and both answers."""
    out = []
    for p in pairs:
        prompt = p.prompt if isinstance(p.prompt, str) else "\n".join(m["content"] for m in p.prompt)
        out += [prompt, p.chosen, p.rejected]
    return out


def prepare(driver: Any, head: str, overrides: dict[str, Any] | None = None) -> Prepared:
    """Pairs, tokenizer, template and model (under --peft, its adapter) for a preference workflow."""
    from lmlearn.align.preferences import tokenize_pairs
    from lmlearn.instruct.chat_model import build_chat_model, set_stop_tokens
    from lmlearn.instruct.templates import BUILTIN, resolve_template

    cfg = driver.cfg
    train_pairs, eval_pairs = driver.read(lambda report: split_pairs(cfg, report))
    tokenizer = driver.tokenizer(_texts(train_pairs))
    chat = not isinstance(train_pairs[0].prompt, str)
    template = resolve_template(cfg.template, tokenizer) if chat else "none"
    from transformers import set_seed

    set_seed(cfg.seed)
    model, grew = build_chat_model(cfg, head, tokenizer, template, overrides)
    if template in BUILTIN:
        tokenizer.chat_template = BUILTIN[template]  # saved with the model, for apply_chat_template
    if chat and head == "causal-lm":
        set_stop_tokens(model, tokenizer, template)
    if tokenizer.pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id  # a sequence classifier finds the last real token by it
    train, dropped = tokenize_pairs(train_pairs, template, tokenizer, cfg.block_size)
    held, held_dropped = (None, 0) if eval_pairs is None else tokenize_pairs(eval_pairs, template, tokenizer,
                                                                             cfg.block_size)
    model = driver.adapt(model, head, tokenizer, grew=grew)
    rows = {"train_pairs": len(train), "eval_pairs": len(held or []), "dropped_pairs": dropped + held_dropped,
            "skipped_rows": driver.report.skipped}
    return Prepared(model, tokenizer, driver.family, template, train, held, rows)
