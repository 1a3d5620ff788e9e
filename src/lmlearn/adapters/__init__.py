"""Parameter-efficient fine-tuning: the `--peft NAME` methods, each one file here, built on `peft`.

A method is a subclass of `lmlearn.adapters.base.PeftMethod`: it turns the settings, the model
family and the task type into a `peft` config, and declares where `peft` can apply it. Adding one
means writing that file, one line here, a test and a row in docs/peft.md.
"""

from __future__ import annotations

from lmlearn.models.adapters import quiet_bitsandbytes
from lmlearn.registry import lookup

PEFT_METHODS = {
    "lora": "lmlearn.adapters.lora:LoRA",
    "qlora": "lmlearn.adapters.qlora:QLoRA",
    "prefix": "lmlearn.adapters.prefix:PrefixTuning",
    "prompt": "lmlearn.adapters.prompt:PromptTuning",
    "ptuning": "lmlearn.adapters.ptuning:PTuning",
    "ia3": "lmlearn.adapters.ia3:IA3",
    "llama-adapter": "lmlearn.adapters.llama_adapter:LlamaAdapter",
}


def peft_names() -> list[str]:
    """The registered method names, in registry order."""
    return list(PEFT_METHODS)


def get_method(name: str) -> type:
    """The `PeftMethod` subclass registered under `name`."""
    return lookup(PEFT_METHODS, name, "--peft method", PEFT_METHODS)


quiet_bitsandbytes()  # before anything here imports peft, and with it bitsandbytes
