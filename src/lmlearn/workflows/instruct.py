"""Instruction tuning: supervised fine-tuning (SFT) of a causal LM or an encoder-decoder on conversations,
with the loss on assistant tokens only (see docs/instruct.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lmlearn.adapters.settings import PeftSettings
from lmlearn.config import option
from lmlearn.data.settings import DataSettings
from lmlearn.errors import LmlearnError
from lmlearn.families import DECODERS, ENCODER_DECODERS
from lmlearn.models.settings import ModelSettings
from lmlearn.engine.settings import TrainSettings

# preset families; a model folder of another architecture is trained as a causal LM
CAUSAL_FAMILIES, SEQ2SEQ_FAMILIES = DECODERS, ENCODER_DECODERS
# methods that add virtual tokens or a cache in front of each row: a packed row would share them
UNPACKABLE_PEFT = ("prefix", "prompt", "ptuning", "llama-adapter")


@dataclass
class InstructConfig(TrainSettings, DataSettings, PeftSettings, ModelSettings):
    """Settings of `lmlearn instruct`."""

    data: str | None = option(None, "instruction data: file, glob, folder or saved dataset of alpaca, messages, "
                                    "ShareGPT, Self-Instruct or Anthropic HH rows")
    format: Literal["auto", "alpaca", "messages", "sharegpt", "self-instruct", "hh"] = option(
        "auto", "layout of the rows (auto: detected from each source's first row)")
    template: Literal["auto", "model", "chatml", "alpaca", "koalpaca"] = option(
        "auto", "chat template: the model's own chat_template (model), chatml, alpaca or koalpaca; "
                "auto: the model's if it has one, else chatml")
    packing: bool = option(False, "pack several conversations into each --block-size row (causal LMs only)")
    token_budget: int = option(
        0, "train on a seeded sample of the examples whose tokens add up to at most this many (0: all of them); "
           "compares data sets at one size in tokens", range=">=0")
    residual_dropout: float = option(
        0.0, "LIMA's residual dropout: the top layer's rate, rising linearly from 0 at the bottom layer "
             "(llama, gpt2, gpt-neox; 0 leaves the model's own dropout)", range="[0, 1)")
    out: str = option("runs/instruct", "output folder")


Config = InstructConfig


def _check(cfg: InstructConfig, family: str, head: str) -> None:
    """Refuse impossible combinations before anything is read or loaded."""
    from lmlearn.instruct.packing import PACKING_FAMILIES
    from lmlearn.instruct.residual_dropout import RESIDUAL_DROPOUT_FAMILIES

    if not cfg.data:
        raise LmlearnError("lmlearn instruct needs --data (alpaca, messages, ShareGPT, Self-Instruct or HH rows)")
    if cfg.token_budget < 0:
        raise LmlearnError(f"--token-budget must be 0 (no limit) or a number of tokens, not {cfg.token_budget}")
    if cfg.packing and family in SEQ2SEQ_FAMILIES:
        raise LmlearnError(f"--packing: a {family} model is an encoder-decoder, which reads each prompt in its "
                           "own encoder pass; run without --packing")
    if cfg.packing and family not in PACKING_FAMILIES:
        raise LmlearnError(f"--packing is verified for {', '.join(PACKING_FAMILIES)} models only (their attention "
                           f"follows restarting position ids), not {family}; run without --packing")
    if cfg.packing and cfg.peft in UNPACKABLE_PEFT:
        raise LmlearnError(f"--packing with --peft {cfg.peft}: its virtual tokens would be shared by all examples "
                           "of a packed row; run without --packing or use lora, qlora or ia3")
    if cfg.residual_dropout and family not in RESIDUAL_DROPOUT_FAMILIES:
        raise LmlearnError(f"--residual-dropout is implemented for {', '.join(RESIDUAL_DROPOUT_FAMILIES)} models, "
                           f"not {family}")
    if cfg.peft:
        from lmlearn.adapters.apply import check_peft

        check_peft(cfg.peft, family, head)


def _split(cfg: InstructConfig, report: Any) -> tuple[list, list | None]:
    """Training and held-out rows of (file:line, conversations); a held-out fraction is split by source row,
    so the instances of one Self-Instruct task stay together."""
    from lmlearn.data.sources import with_held_out
    from lmlearn.instruct.formats import read_conversations

    return with_held_out(lambda spec: read_conversations(spec, cfg.format, cfg.on_bad_rows, report), cfg.data,
                         cfg.eval_data, cfg.eval_fraction, cfg.seed)


def run(cfg: InstructConfig) -> dict[str, Any]:
    """Instruction-tune, then write OUT/model (with --peft: OUT/adapter), OUT/metrics.jsonl and
    OUT/summary.json; return the summary."""
    from lmlearn.driver import Driver
    from lmlearn.models.spec import resolve_model
    from lmlearn.families import FAMILIES

    model_spec = resolve_model(cfg.model)
    family = model_spec.family
    if family in FAMILIES and family not in CAUSAL_FAMILIES + SEQ2SEQ_FAMILIES:
        raise LmlearnError(f"lmlearn instruct trains causal LMs and encoder-decoders, not a {family} model "
                           f"({cfg.model}); families it supports: {', '.join(CAUSAL_FAMILIES + SEQ2SEQ_FAMILIES)}")
    seq2seq = family in SEQ2SEQ_FAMILIES
    head = "seq2seq-lm" if seq2seq else "causal-lm"
    _check(cfg, family, head)
    driver = Driver(cfg, "instruct", model=model_spec)
    cfg = driver.cfg

    from transformers import set_seed

    from lmlearn.instruct.chat_model import build_chat_model, set_stop_tokens
    from lmlearn.instruct.residual_dropout import apply_residual_dropout
    from lmlearn.instruct.sft import SFT, prepare
    from lmlearn.instruct.templates import BUILTIN, resolve_template, tokenizer_texts

    train_rows, eval_rows = driver.read(lambda report: _split(cfg, report))
    tokenizer = driver.tokenizer(tokenizer_texts((chat for _, chats in train_rows for chat in chats), cfg.template))
    template = resolve_template(cfg.template, tokenizer)
    set_seed(cfg.seed)
    model, grew = build_chat_model(cfg, head, tokenizer, template)
    if template in BUILTIN:
        tokenizer.chat_template = BUILTIN[template]  # saved with the model, for apply_chat_template
    eot = set_stop_tokens(model, tokenizer, template)
    rates = apply_residual_dropout(model, family, cfg.residual_dropout) if cfg.residual_dropout else None
    # the adapter belongs to this base when it grew: a preset's random weights, or a vocabulary with control tokens
    model = driver.adapt(model, head, tokenizer, grew=grew)

    train_set = prepare(train_rows, template, tokenizer, cfg.block_size, seq2seq=seq2seq, packed=cfg.packing,
                        token_budget=cfg.token_budget, seed=cfg.seed)
    eval_set = None if eval_rows is None else prepare(eval_rows, template, tokenizer, cfg.block_size, seq2seq=seq2seq)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    result = driver.train(model, SFT(pad_id, seq2seq=seq2seq, packed=cfg.packing), train_set.rows,
                          eval_set and eval_set.rows)
    trained = driver.unwrap(model)
    driver.save(trained, tokenizer)
    return driver.finish({
        **driver.trained_summary(trained), "template": template, "end_of_turn": eot,
        "packing": cfg.packing, "residual_dropout_rates": rates,
        "train_rows": len(train_rows), "train_examples": train_set.examples, "train_sequences": len(train_set.rows),
        "token_budget": cfg.token_budget or None, "train_tokens": train_set.tokens,
        "assistant_tokens": train_set.assistant_tokens,
        "truncated_examples": train_set.truncated, "dropped_examples": train_set.dropped,
        "packing_efficiency": (round(train_set.tokens / (len(train_set.rows) * cfg.block_size), 4)
                               if cfg.packing else None),
        "eval_examples": eval_set.examples if eval_set else 0,
        "wall_time_sec": round(result.wall_time, 2), "skipped_rows": driver.report.skipped,
    })
