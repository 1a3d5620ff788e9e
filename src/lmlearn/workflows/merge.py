"""Merging: fold a LoRA or IA3 adapter into its base model, giving a plain transformers folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmlearn.config import option
from lmlearn.errors import LmlearnError

# peft's task types back to lmlearn's head names, which pick the Auto class that loads the base
_HEADS = {"CAUSAL_LM": "causal-lm", "SEQ_2_SEQ_LM": "seq2seq-lm", "SEQ_CLS": "sequence-classification",
          "TOKEN_CLS": "token-classification", "QUESTION_ANS": "question-answering"}
MERGEABLE = ("LORA", "IA3")


@dataclass
class Config:
    """Settings of `lmlearn merge`."""

    adapter: str = option("runs/pretrain/adapter", "the adapter folder (saved by --peft lora, qlora or ia3)")
    model: str | None = option(None, "the base model folder (default: the one recorded in the adapter)")
    out: str = option("runs/merged", "output folder for the merged model")
    overwrite: bool = option(False, "replace --out if it exists")


def _read_adapter_config(folder: Path) -> dict[str, Any]:
    path = folder / "adapter_config.json"
    if not path.is_file():
        raise LmlearnError(f"--adapter {folder}: no adapter_config.json there (a folder saved by peft)")
    return json.loads(path.read_text(encoding="utf-8"))


def _base_class(adapter: dict[str, Any], base: Path) -> Any:
    """The class the adapter was trained on: from its task type, else the class peft recorded, else the base's own."""
    import transformers

    from lmlearn.adapters.base import auto_class

    if adapter.get("task_type") in _HEADS:
        return auto_class(_HEADS[adapter["task_type"]])
    recorded = (adapter.get("auto_mapping") or {}).get("base_model_class")
    if not recorded:
        architectures = json.loads((base / "config.json").read_text(encoding="utf-8")).get("architectures") or []
        recorded = architectures[0] if architectures else "AutoModel"
    return getattr(transformers, recorded)


def merge(cfg: Config) -> Path:
    """Load the base, apply the adapter, fold it into the weights and save the result atomically."""
    import torch

    from lmlearn.adapters.apply import HEAD_CONFIG
    from lmlearn.models.factory import load_tokenizer
    from lmlearn.models.adapters import attach_adapter
    from lmlearn.models.factory import save_model

    folder = Path(cfg.adapter)
    adapter = _read_adapter_config(folder)
    if adapter.get("peft_type") not in MERGEABLE:
        raise LmlearnError(f"--adapter {folder} is a {adapter.get('peft_type')} adapter; only LoRA (lora, qlora) and "
                           "IA3 fold into the weights; use it as it is with --adapter")
    base = Path(cfg.model or adapter.get("base_model_name_or_path") or "")
    if not (base / "config.json").is_file():
        where = "--model" if cfg.model else f"the base recorded in {folder / 'adapter_config.json'}"
        raise LmlearnError(f"{where} ({base}) is no model folder with config.json; pass --model BASE_DIR")
    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise LmlearnError(f"--out {out} already exists; pass --overwrite to replace it")
    labels = folder / HEAD_CONFIG  # a classification head's size and labels, which the base does not know
    head = json.loads(labels.read_text(encoding="utf-8")) if labels.is_file() else {}
    model = _base_class(adapter, base).from_pretrained(base, dtype=torch.float32, **head)
    merged = attach_adapter(model, str(folder)).merge_and_unload()
    tokenizer = load_tokenizer(str(folder)) or load_tokenizer(str(base))
    if tokenizer is None:
        raise LmlearnError(f"no tokenizer in {folder} or {base}; save one with the adapter or the base")
    return save_model(merged, tokenizer, out)
