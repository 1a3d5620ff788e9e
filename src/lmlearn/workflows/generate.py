"""Generation: continue a prompt with a trained model (greedy or sampled), or chat in its chat template."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator

from lmlearn.config import option


@dataclass
class Config:
    """Settings of `lmlearn generate`."""

    model: str = option("runs/pretrain", "model folder, or a run folder holding model/")
    adapter: str | None = option(None, "a PEFT adapter folder to apply on top of --model")
    prompt: str = option("", "text to continue", short="-p")
    max_new_tokens: int = option(50, "tokens to generate", range=">=1")
    do_sample: bool = option(False, "sample instead of greedy decoding")
    temperature: float = option(1.0, "sampling temperature", range=">=0")
    top_k: int = option(0, "sample from the k most likely tokens (0: no limit)", range=">=0")
    top_p: float = option(1.0, "sample from the smallest set with this much probability (nucleus)", range="(0, 1]")
    repetition_penalty: float = option(1.0, "penalise tokens already generated (1: none)", range=">0")
    num_return_sequences: int = option(1, "continuations per prompt", range=">=1")
    seed: int = option(0, "seed for sampling")
    chat: bool = option(False, "talk to a chat model in its own chat template (the one `instruct`, `dpo` and `ppo` "
                               "save): --prompt is the first user turn, then each line typed another; the "
                               "conversation is kept; an empty line or end of input stops")


def load(cfg: Config) -> tuple[Any, Any, bool]:
    """The model (with --adapter), its tokenizer, and whether it is an encoder-decoder."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from lmlearn.models.factory import read_config
    from lmlearn.models.spec import resolve_model_dir

    folder = resolve_model_dir(cfg.model)
    is_seq2seq = getattr(read_config(folder), "is_encoder_decoder", False)
    model = (AutoModelForSeq2SeqLM if is_seq2seq else AutoModelForCausalLM).from_pretrained(folder)
    if cfg.adapter:
        from lmlearn.models.adapters import attach_adapter

        model = attach_adapter(model, cfg.adapter)
    return model.eval(), AutoTokenizer.from_pretrained(folder), is_seq2seq


def _decode(model: Any, tokenizer: Any, inputs: dict[str, Any], cfg: Config, is_seq2seq: bool,
            stop: list[int] | None = None) -> list[str]:
    """Generate from `inputs` with the decoding settings; the new text of each sequence."""
    import torch

    sampling = {"temperature": cfg.temperature, "top_k": cfg.top_k or None, "top_p": cfg.top_p} if cfg.do_sample else {}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if stop:
        sampling["eos_token_id"] = stop
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample,
                                num_return_sequences=cfg.num_return_sequences, pad_token_id=pad,
                                repetition_penalty=cfg.repetition_penalty, **sampling)
    new = output if is_seq2seq else output[:, inputs["input_ids"].shape[1]:]
    return tokenizer.batch_decode(new, skip_special_tokens=True)


def generate(cfg: Config) -> list[str]:
    """Generate `num_return_sequences` continuations of the prompt; returns the new text only."""
    import torch
    from transformers import set_seed

    model, tokenizer, is_seq2seq = load(cfg)
    set_seed(cfg.seed)
    inputs = tokenizer(cfg.prompt, return_tensors="pt")
    if inputs["input_ids"].shape[1] == 0:  # an empty prompt: start from the beginning-of-text token
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        inputs = {"input_ids": torch.tensor([[start]]), "attention_mask": torch.ones(1, 1, dtype=torch.long)}
    return _decode(model, tokenizer, inputs, cfg, is_seq2seq)


def chat(cfg: Config, turns: Iterable[str]) -> Iterator[str]:
    """A conversation: each user turn in `turns` (stopping at an empty one) is added to the history, the history
    is rendered with the model's chat template up to the assistant's opener, and the reply (ended by the
    template's end-of-turn token or eos) is yielded and kept in the history."""
    from transformers import set_seed

    from lmlearn.errors import LmlearnError
    from lmlearn.instruct.templates import end_of_turn, has_chat_template, render_prompt

    model, tokenizer, is_seq2seq = load(cfg)
    if is_seq2seq or not has_chat_template(tokenizer):
        raise LmlearnError(f"--chat: {cfg.model} has no chat template in its tokenizer; chat with a model that "
                           "`lmlearn instruct`, `dpo` or `ppo` saved, or generate without --chat")
    stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    closer = end_of_turn("model", tokenizer)
    if closer and closer in tokenizer.get_vocab():
        stop.append(tokenizer.convert_tokens_to_ids(closer))
    set_seed(cfg.seed)
    messages: list[dict[str, str]] = []
    for turn in turns:
        if not turn.strip():
            return
        messages.append({"role": "user", "content": turn.strip()})
        text = render_prompt(messages, "model", tokenizer)
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)  # the template writes bos itself
        reply = _decode(model, tokenizer, inputs, replace(cfg, num_return_sequences=1), False, stop)[0].strip()
        messages.append({"role": "assistant", "content": reply})
        yield reply
