"""A student made from its teacher: the same architecture with fewer layers, initialised from the
teacher's embeddings and a chosen subset of its layers (DistilBERT: every other layer)."""

from __future__ import annotations

import copy
from typing import Any

import torch

from lmlearn.errors import LmlearnError

# config attribute holding the depth, by model_type (others: num_hidden_layers)
_DEPTH = {"gpt2": "n_layer", "distilbert": "n_layers"}


def layer_stack(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The name and module of the model's stack of transformer layers (the ModuleList as long as its depth)."""
    depth = num_layers(model.config)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == depth:
            return name, module
    raise LmlearnError(f"{type(model).__name__}: found no stack of {depth} layers to take a student's layers from")


def num_layers(config: Any) -> int:
    """The model's depth, whatever its config calls it."""
    return int(getattr(config, _DEPTH.get(config.model_type, "num_hidden_layers")))


def every_other(depth: int) -> list[int]:
    """DistilBERT's choice: layers 0, 2, 4, ... of the teacher."""
    return list(range(0, depth, 2))


def parse_layers(text: str, depth: int) -> list[int]:
    """`--layers 0,2,4` (teacher layers to keep, in order); empty: every other layer."""
    if not text.strip():
        return every_other(depth)
    try:
        layers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LmlearnError(f"--layers {text}: give teacher layer numbers like 0,2,4") from None
    bad = [i for i in layers if not 0 <= i < depth]
    if bad or not layers:
        raise LmlearnError(f"--layers {text}: the teacher has layers 0..{depth - 1}")
    return layers


def student_from_teacher(teacher: torch.nn.Module, layers: list[int]) -> torch.nn.Module:
    """A model of the teacher's class with len(layers) layers: every weight outside the stack
    (embeddings, final norm, heads) copied, and student layer i a copy of teacher layer layers[i]."""
    config = copy.deepcopy(teacher.config)
    setattr(config, _DEPTH.get(config.model_type, "num_hidden_layers"), len(layers))
    student = type(teacher)(config).to(next(teacher.parameters()).dtype)
    name, _ = layer_stack(teacher)
    prefix = name + "."
    state = {}
    for key, value in teacher.state_dict().items():
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            if int(index) in layers:
                state[f"{prefix}{layers.index(int(index))}.{rest}"] = value.clone()
        else:
            state[key] = value.clone()
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise LmlearnError(f"cannot map {type(teacher).__name__}'s layers onto the student: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")
    student.tie_weights()
    return student


def check_vocabularies(teacher: torch.nn.Module, student: torch.nn.Module, teacher_tok: Any, student_tok: Any) -> None:
    """Logit distillation compares distributions over one vocabulary: refuse two that differ."""
    t, s = teacher.get_input_embeddings().num_embeddings, student.get_input_embeddings().num_embeddings
    if t != s:
        raise LmlearnError(f"teacher and student vocabularies differ ({t} and {s} embeddings); distil into a student "
                           "built with the teacher's tokenizer (the default student is)")
    if student_tok is not None and teacher_tok is not None and student_tok.get_vocab() != teacher_tok.get_vocab():
        raise LmlearnError("teacher and student tokenizers map tokens to different ids; use the teacher's tokenizer")
