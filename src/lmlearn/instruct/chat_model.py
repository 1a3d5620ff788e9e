"""A chat model for a template: the model with room for the template's control tokens, and generation
that stops at its end-of-turn token (used by `instruct`, `reward`, `dpo` and `ppo`)."""

from __future__ import annotations

from typing import Any

from lmlearn.errors import LmlearnError


def build_chat_model(cfg: Any, head: str, tokenizer: Any, template: str,
                     overrides: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """`cfg.model` (a preset or folder, with `cfg.peft` and `cfg.seed`) with `head`, with room for the
    template's control tokens; whether its vocabulary grew (then the base of an adapter must be saved
    with the run). `overrides` set config attributes (a reward head's one label)."""
    from lmlearn.adapters.qlora import load_quantized
    from lmlearn.instruct.templates import add_template_tokens
    from lmlearn.models.factory import load_model
    from lmlearn.models.presets import parse_preset

    if parse_preset(cfg.model):
        add_template_tokens(template, tokenizer)  # before the preset sizes its vocabulary
        return load_model(cfg.model, head, tokenizer, seed=cfg.seed, config_overrides=overrides), True
    if cfg.peft == "qlora":
        model = load_quantized(cfg.model, head, tokenizer, cfg.seed, **(overrides or {}))
    else:
        model = load_model(cfg.model, head, tokenizer, seed=cfg.seed, config_overrides=overrides)
    if not add_template_tokens(template, tokenizer):
        return model, False
    if cfg.peft == "qlora":
        raise LmlearnError(f"--template {template} adds tokens the 4-bit model {cfg.model} has no embeddings for; "
                           "use --template alpaca or koalpaca, or a model with its own chat_template")
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    if cfg.peft:
        print(f"note: --peft {cfg.peft} keeps the new rows of {template}'s control tokens at their initial values")
    return model, True


def set_stop_tokens(model: Any, tokenizer: Any, template: str) -> str | None:
    """Let `generate` stop at the template's end-of-turn token as well as at eos; returns that token."""
    from lmlearn.instruct.templates import end_of_turn

    eot = end_of_turn(template, tokenizer)
    stops = [tokenizer.eos_token_id] + ([tokenizer.convert_tokens_to_ids(eot)] if eot else [])
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.eos_token_id = list(dict.fromkeys(t for t in stops if t is not None))
        generation.pad_token_id = tokenizer.pad_token_id
    return eot
