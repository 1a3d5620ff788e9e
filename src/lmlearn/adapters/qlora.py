"""QLoRA (Dettmers et al. 2023): LoRA on a frozen base stored in 4-bit NormalFloat with double quantization."""

from __future__ import annotations

import tempfile
from typing import Any

from lmlearn.adapters.base import auto_class, split_names, task_head_modules
from lmlearn.adapters.lora import LoRA


class QLoRA(LoRA):
    """LoRA on every linear layer of a 4-bit NF4 base (the paper's recipe for matching full fine-tuning)."""

    name = "qlora"
    quantized = True

    def targets(self, family: str) -> list[str] | str:
        """--lora-targets, else all-linear: the paper finds adapting every linear layer necessary (§4)."""
        return split_names(self.settings.lora_targets) if self.settings.lora_targets else "all-linear"


def quantization_config(keep: list[str] | None = None) -> Any:
    """4-bit NF4 with double quantization, computing in bf16 on a GPU that has it, else in fp32.

    `keep` names modules to leave in full precision (a task head, which trains); by default
    transformers keeps the output layer.
    """
    import torch
    from transformers import BitsAndBytesConfig

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float32,
                              llm_int8_skip_modules=keep or None)


def _read_quantized(model_class: Any, folder: str, keep: list[str], **model_kwargs: Any) -> Any:
    import torch
    from peft import prepare_model_for_kbit_training

    # fp32 for what stays unquantized (embeddings, norms, heads), as lmlearn trains in fp32 or autocast
    model = model_class.from_pretrained(folder, quantization_config=quantization_config(keep), dtype=torch.float32,
                                        **model_kwargs)
    for name, module in list(model.named_modules()):
        # bitsandbytes 0.50 repacks a 4-bit weight for its AVX512-BF16 CPU kernel the first time the layer
        # runs in eval mode without gradients (as in the loop's evaluations), then uses that kernel for
        # good; it has no backward, so later training steps would get no gradient through the base.
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
        if _left_unquantized(module):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, _as_linear(module))
    _own_memory(model)
    # Freezes the base. No gradient checkpointing: it trades time for activation memory whatever the
    # precision of the weights, so it is a separate choice from QLoRA's 4-bit base.
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def _left_unquantized(module: Any) -> bool:
    """A layer the checkpoint lacks (BERT's pooler under a new classifier): transformers initialises it
    in full precision but leaves it in the 4-bit class, which peft cannot wrap."""
    import bitsandbytes as bnb

    return isinstance(module, bnb.nn.Linear4bit) and not isinstance(module.weight, bnb.nn.Params4bit)


def _as_linear(module: Any) -> Any:
    import torch

    linear = torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    linear.weight, linear.bias = module.weight, module.bias
    return linear


def _own_memory(model: Any) -> None:
    """Copy what stayed in full precision (embeddings, norms, heads) out of the checkpoint file.

    transformers maps the checkpoint into memory and leaves those tensors as views of it, which keeps
    the whole mapping alive, and with it every page of the full-precision weights read while
    quantizing: the 4-bit model would hold as much memory as the full one.
    """
    import bitsandbytes as bnb

    for tensor in list(model.parameters()) + list(model.buffers()):
        if not isinstance(tensor, bnb.nn.Params4bit):
            tensor.data = tensor.data.clone()


def quantize(model: Any, task_type: str) -> Any:
    """`model` (full precision, with the `task_type` head) with its linear layers in 4-bit NF4, frozen.
    transformers quantizes only while loading, so the model goes through a temporary folder and peak
    memory includes the full-precision model."""
    with tempfile.TemporaryDirectory(prefix="lmlearn-qlora-") as tmp:
        model.save_pretrained(tmp)
        return _read_quantized(type(model), tmp, task_head_modules(model, task_type))


def load_quantized(spec: str, head: str, tokenizer: Any = None, seed: int | None = None, **model_kwargs: Any) -> Any:
    """Model `spec` with `head` (an lmlearn task type), its linear layers in 4-bit NF4 and frozen,
    ready for `apply_peft`.

    A folder is quantized as it is read: its full-precision weights are never copied, though the pages
    read from the memory-mapped checkpoint count as resident until loading ends. A preset (random
    weights, an LM head) is built in full precision first. `model_kwargs` go to `from_pretrained` of
    a folder (num_labels for a classification head, for instance).
    """
    import torch

    from lmlearn.models.factory import load_model, read_config
    from lmlearn.models.presets import parse_preset
    from lmlearn.models.spec import model_family

    if parse_preset(spec) is not None:
        return quantize(load_model(spec, head, tokenizer, seed), head)
    model_family(spec)  # a one-line error when spec is no model folder
    model_class = auto_class(head)
    with torch.device("meta"):  # the module names of the head, without weights
        skeleton = model_class.from_config(read_config(spec, **model_kwargs))
    return _read_quantized(model_class, spec, task_head_modules(skeleton, head), **model_kwargs)
