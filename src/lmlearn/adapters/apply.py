"""Put a `--peft` method on a model, count what trains, and save the adapter in peft's own format."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, Callable

from lmlearn.adapters import get_method
from lmlearn.adapters.base import TASK_TYPES, PeftMethod, task_head_modules
from lmlearn.adapters.settings import PeftSettings
from lmlearn.errors import LmlearnError
from lmlearn.extras import require
from lmlearn.io import atomic_write_dir
from lmlearn.models.presets import FAMILIES

HEAD_CONFIG = "head_config.json"  # a label head's labels, which peft's folder (weights only) does not keep


def check_peft(method: str, family: str, task_type: str) -> type[PeftMethod]:
    """The method registered as `method`, or a one-line error when peft cannot apply it to a `family`
    model with the `task_type` head; call it before loading anything."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type '{task_type}'; one of {', '.join(TASK_TYPES)}")
    cls = get_method(method)
    families = cls.support.get(task_type, ())
    if family in FAMILIES and family not in families:
        if families:
            fits = f"families it supports for {task_type}: {', '.join(families)}"
        else:
            fits = f"it fits only {', '.join(t for t in TASK_TYPES if cls.support.get(t))}"
        raise LmlearnError(f"--peft {method} does not fit a {family} model for {task_type} ({cls.why_not}); {fits}")
    if cls.quantized:
        require("bitsandbytes", f"--peft {method}")
    problem = cls.version_problem(family, task_type)
    if problem:
        raise LmlearnError(f"--peft {method} on a {family} model for {task_type}: {problem}")
    return cls


def apply_peft(model: Any, settings: PeftSettings, family: str, task_type: str, tokenizer: Any = None) -> Any:
    """Wrap `model` (of `family`, with the `task_type` head) in the `settings.peft` adapter; only the
    adapter (and a classification head) trains. QLoRA quantizes a full-precision model first (use
    `load_quantized` to avoid holding the full-precision weights)."""
    from peft import get_peft_model

    from lmlearn.adapters.qlora import quantize

    method = check_peft(settings.peft, family, task_type)(settings)
    if method.quantized and not getattr(model, "is_loaded_in_4bit", False):
        model = quantize(model, task_type)
    config = method.config(model, family, task_type)
    if task_head_modules(model, task_type):
        config.modules_to_save = task_head_modules(model, task_type)
    try:
        with warnings.catch_warnings():  # peft still asks transformers' deprecated is_gradient_checkpointing
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            peft_model = get_peft_model(model, config)
    except ValueError as err:  # a module name or shape peft cannot work with
        raise LmlearnError(f"--peft {settings.peft} on this {family} model: {str(err).splitlines()[0]}") from err
    method.init_weights(peft_model, tokenizer)
    if method.quantized:
        peft_model.register_load_state_dict_post_hook(_accept_quant_states)
    return peft_model


_QUANT_STATE = re.compile(r"\.weight\.(absmax|quant_map|nested_absmax|nested_quant_map|quant_state\..+)$")


def _accept_quant_states(module: Any, incompatible: Any) -> None:
    """A checkpoint (`state_dict`) of a 4-bit model holds each weight's quantization constants, which
    `load_state_dict` does not know; they describe a frozen base rebuilt identically on resume, so
    they are let through rather than failing the strict load."""
    incompatible.unexpected_keys[:] = [k for k in incompatible.unexpected_keys if not _QUANT_STATE.search(k)]


def build_peft_model(settings: PeftSettings, family: str, task_type: str, tokenizer: Any, spec: str, out: Path,
                     build: Callable[[], Any], load_4bit: bool = True, what: str = "this run",
                     **model_kwargs: Any) -> Any:
    """The model a training command trains with --peft: `build()`'s model (or, for QLoRA from a folder
    when `load_4bit`, the folder read straight into 4 bits, never holding the full-precision weights)
    under the adapter. A preset base is saved to OUT/base: its random weights are part of what the
    adapter was trained against."""
    from transformers import PreTrainedModel

    from lmlearn.adapters.qlora import load_quantized
    from lmlearn.models.presets import parse_preset
    from lmlearn.models.factory import save_model

    preset = parse_preset(spec) is not None
    if settings.peft == "qlora" and not preset and load_4bit:
        model = load_quantized(spec, task_type, tokenizer, getattr(settings, "seed", None), **model_kwargs)
    else:
        model = build()
    if not isinstance(model, PreTrainedModel):
        raise LmlearnError(f"--peft {settings.peft}: {what} trains a {type(model).__name__}, not one transformers "
                           "model an adapter can sit on; train it without --peft")
    if preset:
        save_model(model, tokenizer, out / "base")
    return apply_peft(model, settings, family, task_type, tokenizer)


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters; a 4-bit weight counts as the parameters it stores, not its bytes."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    from lmlearn.models.factory import count_parameters

    return count_parameters(model)


def parameter_summary(model: Any) -> dict[str, Any]:
    """The summary.json fields every training command reports: total and trainable parameters, the
    trainable share in percent, and the model's non-embedding parameters (the N of scaling laws)."""
    from lmlearn.models.factory import non_embedding_parameters

    trainable, total = parameter_counts(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"parameters": total, "trainable_parameters": trainable,
            "trainable_percent": round(100 * trainable / max(total, 1), 4),
            "non_embedding_parameters": non_embedding_parameters(base)}


def save_adapter(model: Any, tokenizer: Any, path: str | Path, base: str | Path | None = None) -> Path:
    """Save the adapter as peft does (`PeftModel.from_pretrained` loads it), with the tokenizer,
    atomically. `base` records the folder of the base model the adapter belongs to."""
    config = model.active_peft_config
    if base is not None:
        config.base_model_name_or_path = str(base)
    head = model.get_base_model().config

    def fill(tmp: Path) -> None:
        model.save_pretrained(str(tmp))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        if config.task_type in ("SEQ_CLS", "TOKEN_CLS"):
            labels = {"id2label": head.id2label, "label2id": head.label2id, "problem_type": head.problem_type}
            (tmp / HEAD_CONFIG).write_text(json.dumps(labels, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return atomic_write_dir(path, fill)
