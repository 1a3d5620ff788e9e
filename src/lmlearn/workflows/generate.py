"""Generation: continue a prompt with a trained model (greedy or sampled)."""

from __future__ import annotations

from dataclasses import dataclass

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


def generate(cfg: Config) -> list[str]:
    """Generate `num_return_sequences` continuations of the prompt; returns the new text only."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, set_seed

    from lmlearn.models.factory import read_config
    from lmlearn.models.spec import resolve_model_dir

    folder = resolve_model_dir(cfg.model)
    is_seq2seq = getattr(read_config(folder), "is_encoder_decoder", False)
    model = (AutoModelForSeq2SeqLM if is_seq2seq else AutoModelForCausalLM).from_pretrained(folder)
    if cfg.adapter:
        from lmlearn.models.adapters import attach_adapter

        model = attach_adapter(model, cfg.adapter)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    set_seed(cfg.seed)
    inputs = tokenizer(cfg.prompt, return_tensors="pt")
    if inputs["input_ids"].shape[1] == 0:  # an empty prompt: start from the beginning-of-text token
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        inputs = {"input_ids": torch.tensor([[start]]), "attention_mask": torch.ones(1, 1, dtype=torch.long)}
    sampling = {"temperature": cfg.temperature, "top_k": cfg.top_k or None, "top_p": cfg.top_p} if cfg.do_sample else {}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=cfg.do_sample,
                                num_return_sequences=cfg.num_return_sequences, pad_token_id=pad,
                                repetition_penalty=cfg.repetition_penalty, **sampling)
    new = output if is_seq2seq else output[:, inputs["input_ids"].shape[1]:]
    return tokenizer.batch_decode(new, skip_special_tokens=True)
