"""Turn a preset name or a local model folder into a transformers model with the head an objective needs."""

from __future__ import annotations

import contextlib
import difflib
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_dir
from lmlearn.families import (
    DECODERS,
    ENCODER_DECODERS,
    ENCODERS,
    FAMILY_OF_MODEL_TYPE,
    TOKEN_CLASSIFIERS,
)
from lmlearn.models.presets import (
    DESCRIBE_VOCAB,
    FAMILIES,
    MAX_POSITIONS,
    SpecialIds,
    build_config,
    parse_preset,
    preset_config,
    preset_names,
)

HEAD_CLASSES = {
    "causal-lm": AutoModelForCausalLM,
    "masked-lm": AutoModelForMaskedLM,
    "seq2seq-lm": AutoModelForSeq2SeqLM,
    "pretraining": AutoModelForPreTraining,
    "sequence-classification": AutoModelForSequenceClassification,
    "token-classification": AutoModelForTokenClassification,
    "question-answering": AutoModelForQuestionAnswering,
    "base": AutoModel,
}
HEADS = tuple(HEAD_CLASSES)

# Which families each head is for. transformers has more pairings (BertLMHeadModel makes BERT a
# decoder, AutoModelForPreTraining maps gpt2 to its plain LM head); they are not what these presets
# are meant to train, so they are refused rather than silently built. XLNet's permutation LM sits
# under causal-lm (AutoModelForCausalLM gives XLNetLMHeadModel); "pretraining" is for the families
# with a dedicated *ForPreTraining class (BERT NSP, ALBERT SOP, ELECTRA's discriminator).
FAMILIES_BY_HEAD: dict[str, tuple[str, ...]] = {
    "causal-lm": (*DECODERS, "xlnet"),
    "masked-lm": ENCODERS,
    "seq2seq-lm": ENCODER_DECODERS,
    "pretraining": ("bert", "albert", "electra"),
    "sequence-classification": FAMILIES,
    "token-classification": TOKEN_CLASSIFIERS,
    "question-answering": FAMILIES,
    "base": FAMILIES,
}
LM_HEADS = ("causal-lm", "masked-lm", "seq2seq-lm")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def families_for(head: str) -> list[str]:
    """The preset families that can be built with `head`."""
    _check_head_name(head)
    return list(FAMILIES_BY_HEAD[head])


def lm_head_of(family: str) -> str:
    """The language-modelling head a preset family is trained with (causal, masked or seq2seq)."""
    return next(head for head in LM_HEADS if family in FAMILIES_BY_HEAD[head])


def family_of(config: PreTrainedConfig) -> str:
    """The preset family of a config; an architecture outside the presets keeps its model_type."""
    return FAMILY_OF_MODEL_TYPE.get(config.model_type, config.model_type)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights are counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Kaplan et al.'s N: every parameter but the token, position and segment embedding tables (an untied
    output embedding too), the count scaling laws are stated in."""
    tables = {id(p): p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)
              for p in m.parameters(recurse=False)}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and getattr(output, "weight", None) is not None:
        tables.setdefault(id(output.weight), output.weight.numel())
    return sum(p.numel() for p in model.parameters()) - sum(tables.values())


def train_flops_per_token(non_embedding: int, layers: int, context: int, hidden: int) -> int:
    """Training FLOPs per token: 6N for the weights and 6 * layers * context * hidden for attention over the
    context (Kaplan et al. 2020, Table 1: forward 2N + 2 n_layer n_ctx d_attn, backward twice that)."""
    return 6 * non_embedding + 6 * layers * context * hidden


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Seed the weight init without moving the caller's random stream."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_head_name(head: str) -> None:
    if head not in HEAD_CLASSES:
        raise LmlearnError(f"unknown model head '{head}'; heads: {', '.join(HEADS)}")


def _check_head(family: str, head: str, what: str) -> None:
    """Refuse a head the family has no model for (families outside the presets are left to transformers)."""
    _check_head_name(head)
    if family in FAMILIES and family not in FAMILIES_BY_HEAD[head]:
        raise LmlearnError(
            f"{what} cannot be used for {head}; families that can: {', '.join(FAMILIES_BY_HEAD[head])}"
        )


def build_model(config: PreTrainedConfig, head: str, seed: int | None = None) -> PreTrainedModel:
    """A freshly initialized fp32 model for `config` with `head` (default attention: sdpa where supported)."""
    _check_head_name(head)
    with _seeded(seed):
        return HEAD_CLASSES[head].from_config(config, dtype=torch.float32)


def _model_folder(spec: str) -> Path:
    """The folder `spec` names, or an error saying what is missing."""
    path = Path(spec).expanduser()
    if not path.is_dir():
        close = difflib.get_close_matches(spec, preset_names(prefixed=True), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise LmlearnError(
            f"model '{spec}' is neither a preset{hint} nor an existing folder; run `lmlearn models` to list presets"
        )
    if not (path / "config.json").is_file():
        raise LmlearnError(f"model folder '{path}' has no config.json; save models there with save_pretrained")
    return path


def read_config(folder: str | Path, **kwargs: Any) -> PreTrainedConfig:
    """The config saved in a model folder, or one line naming what is wrong with its config.json."""
    import json

    config_file = Path(folder).expanduser() / "config.json"
    if not config_file.is_file():
        raise LmlearnError(f"model folder '{folder}' has no config.json; save models there with save_pretrained")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LmlearnError(f"{config_file}: not a JSON file ({err})") from None
    if not isinstance(data, dict) or not data.get("model_type"):
        raise LmlearnError(f"{config_file}: no 'model_type' key, so transformers cannot tell the architecture; "
                           "save the model with save_pretrained, or add the key (e.g. \"model_type\": \"bert\")")
    try:
        return AutoConfig.from_pretrained(config_file.parent, **kwargs)
    except (ValueError, OSError, KeyError) as err:
        raise LmlearnError(f"cannot read {config_file}: {str(err).splitlines()[0]}") from err


def load_model(
    spec: str, head: str, tokenizer: PreTrainedTokenizerFast | None = None, seed: int | None = None,
    config_overrides: dict | None = None, random_init: bool = False,
) -> PreTrainedModel:
    """A preset built from scratch for `tokenizer`, or a model saved in a local folder, with `head`.

    `config_overrides` set config attributes (a task's num_labels, id2label); `random_init` builds a
    folder's architecture with fresh weights (the from-scratch baseline of a pre-trained model).
    """
    overrides = config_overrides or {}
    parsed = parse_preset(spec)
    if parsed is not None:
        _check_head(parsed[0], head, f"preset '{spec}'")
        if tokenizer is None:
            raise LmlearnError(f"preset '{spec}' needs a tokenizer to size its vocabulary; give one")
        config = build_config(spec, tokenizer)
        config.update(overrides)
        return build_model(config, head, seed)

    path = _model_folder(spec)
    config = read_config(path)
    _check_head(family_of(config), head, f"model '{spec}' ({config.model_type})")
    config.update(overrides)
    vocab_size = getattr(config, "vocab_size", None)
    if tokenizer is not None and vocab_size is not None and len(tokenizer) > vocab_size:
        raise LmlearnError(
            f"tokenizer has {len(tokenizer)} tokens but model '{spec}' embeds only {vocab_size}; "
            "use the tokenizer saved with the model"
        )
    if random_init:
        return build_model(config, head, seed)
    try:
        # fp32 whatever the checkpoint was saved in: transformers 5 otherwise keeps the saved dtype.
        with _seeded(seed):
            return HEAD_CLASSES[head].from_pretrained(path, config=config, dtype=torch.float32)
    except ValueError as err:  # the Auto class has no model of this type for the head
        raise LmlearnError(f"model '{spec}' cannot be loaded for {head}: {str(err).splitlines()[0]}") from err


def load_tokenizer(spec: str) -> PreTrainedTokenizerFast | None:
    """The tokenizer saved in folder `spec`, or None when `spec` is a preset or holds no tokenizer files."""
    path = Path(spec).expanduser()
    if not path.is_dir() or not any((path / name).is_file() for name in TOKENIZER_FILES):
        return None
    return AutoTokenizer.from_pretrained(path)


def save_model(model: Any, tokenizer: Any, path: str | Path) -> Path:
    """Save model and tokenizer as a folder that `AutoModel*.from_pretrained` loads, atomically."""
    def fill(tmp: Path) -> None:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))

    return atomic_write_dir(path, fill)


def describe_presets() -> list[dict]:
    """One row per preset: name, family, size, hidden, layers, heads, parameters and non-embedding parameters
    at vocab 8000, and training FLOPs per token at a 512-token context."""
    rows = []
    for name in preset_names():
        family, size = parse_preset(name)
        config = preset_config(family, size, SpecialIds(DESCRIBE_VOCAB, pad=0, bos=1, eos=2))
        with torch.device("meta"):  # shapes only: no memory, no init
            model = build_model(config, lm_head_of(family))
        # encoder-decoders: layers is the encoder's depth and decoder_layers the decoder's
        decoder = getattr(config, "decoder_layers", getattr(config, "num_decoder_layers", 0))
        n = non_embedding_parameters(model)
        rows.append({
            "name": name, "family": family, "size": size, "hidden": config.hidden_size,
            "layers": config.num_hidden_layers, "decoder_layers": decoder,
            "heads": config.num_attention_heads, "parameters": count_parameters(model)[1],
            "non_embedding_parameters": n,
            "train_flops_per_token": train_flops_per_token(n, config.num_hidden_layers + (decoder or 0),
                                                           MAX_POSITIONS, config.hidden_size),
        })
    return rows
