"""Named model presets: twelve architecture families at two sizes, and a size ladder of eight sizes for the
families scaling laws are usually measured on, as transformers configs."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Callable

from transformers import (
    AlbertConfig,
    BartConfig,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    PreTrainedConfig,
    RobertaConfig,
    T5Config,
    XLNetConfig,
)

from lmlearn.errors import LmlearnError
from lmlearn.families import FAMILIES

SIZES = ("tiny", "small")
MAX_POSITIONS = 512
DESCRIBE_VOCAB = 8000


@dataclass(frozen=True)
class Shape:
    """The width and depth every family starts from at one size."""

    hidden: int
    layers: int
    heads: int
    ffn: int


# One shape per size so families compare at equal width and depth; head size 16 (tiny) and 64 (small).
SHAPES = {
    "tiny": Shape(hidden=64, layers=2, heads=4, ffn=256),
    "small": Shape(hidden=256, layers=10, heads=4, ffn=1024),
}
# The size ladder (`lmlearn scaling sweep`): eight sizes named by their approximate non-embedding parameters
# (Kaplan et al.'s N, 12 * layers * hidden^2 for GPT-2), 0.02M to 30M, over 1,000x. Width grows with depth at
# hidden/layers between 16 and 40 (Kaplan et al. find the loss flat in that ratio over a wide range), heads
# of 16 dimensions below 128 wide and 32 from there.
LADDER = {
    "0.02m": Shape(hidden=32, layers=2, heads=2, ffn=128),
    "0.05m": Shape(hidden=48, layers=2, heads=3, ffn=192),
    "0.1m": Shape(hidden=64, layers=2, heads=4, ffn=256),
    "0.3m": Shape(hidden=96, layers=3, heads=6, ffn=384),
    "1m": Shape(hidden=128, layers=5, heads=4, ffn=512),
    "3m": Shape(hidden=192, layers=7, heads=6, ffn=768),
    "10m": Shape(hidden=320, layers=8, heads=10, ffn=1280),
    "30m": Shape(hidden=448, layers=12, heads=14, ffn=1792),
}
LADDER_FAMILIES = ("gpt2", "llama", "bert")
# ALBERT shares one layer across the stack, so width rather than depth buys parameters: 640 wide
# lands in the 5-30M band of the other small presets, and 6 deep keeps its compute within reach of a CPU.
SHAPE_OVERRIDES = {("albert", "small"): Shape(hidden=640, layers=6, heads=10, ffn=2560)}


@dataclass(frozen=True)
class SpecialIds:
    """Token ids a config needs; None where the tokenizer has no such token."""

    vocab_size: int
    pad: int | None
    bos: int | None
    eos: int | None


def _half(layers: int) -> int:
    """Half the depth, but never below the 2 layers a tiny test model keeps."""
    return max(2, layers // 2)


def _gpt2(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # GPT-2's tanh-approximated GELU, computed by PyTorch's fused kernel instead of the five separate
    # element-wise ops of "gelu_new" (same function, about 3% faster steps on CPU).
    return GPT2Config(
        vocab_size=ids.vocab_size, n_positions=MAX_POSITIONS, n_embd=s.hidden, n_layer=s.layers,
        n_head=s.heads, n_inner=s.ffn, activation_function="gelu_pytorch_tanh",
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _llama(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # SwiGLU has three matrices, so 2/3 of the 4h FFN keeps the layer size (LLaMA paper §2.2); rounded up to 64.
    intermediate = math.ceil(2 * s.ffn / 3 / 64) * 64
    return LlamaConfig(
        vocab_size=ids.vocab_size, hidden_size=s.hidden, intermediate_size=intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True, pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _gpt_neox(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # Polyglot-ko: rotary on half of each head (rotary_pct 0.5), attention and MLP in parallel.
    return GPTNeoXConfig(
        vocab_size=ids.vocab_size, hidden_size=s.hidden, intermediate_size=s.ffn,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, max_position_embeddings=MAX_POSITIONS,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
        use_parallel_residual=True, tie_word_embeddings=True,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _bert(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    return BertConfig(
        vocab_size=ids.vocab_size, hidden_size=s.hidden, num_hidden_layers=s.layers,
        num_attention_heads=s.heads, intermediate_size=s.ffn, max_position_embeddings=MAX_POSITIONS,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _roberta(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # RoBERTa numbers positions from pad_token_id + 1, so the table needs that many extra rows.
    return RobertaConfig(
        vocab_size=ids.vocab_size, hidden_size=s.hidden, num_hidden_layers=s.layers,
        num_attention_heads=s.heads, intermediate_size=s.ffn,
        max_position_embeddings=MAX_POSITIONS + ids.pad + 1, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _albert(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # num_hidden_groups=1: every layer is the same layer. E=128 as in every ALBERT; tiny uses 32.
    return AlbertConfig(
        vocab_size=ids.vocab_size, embedding_size=min(128, s.hidden // 2), hidden_size=s.hidden,
        num_hidden_layers=s.layers, num_hidden_groups=1, inner_group_num=1, num_attention_heads=s.heads,
        intermediate_size=s.ffn, max_position_embeddings=MAX_POSITIONS,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _electra(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # ELECTRA-Small keeps 128-wide embeddings under a 256-wide encoder; tiny halves the hidden size.
    return ElectraConfig(
        vocab_size=ids.vocab_size, embedding_size=min(128, s.hidden // 2), hidden_size=s.hidden,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, intermediate_size=s.ffn,
        max_position_embeddings=MAX_POSITIONS, pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _deberta_v2(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # DebertaV2Config defaults are BERT-like; these keys are DeBERTa-v3's (objectives.md §11).
    return DebertaV2Config(
        vocab_size=ids.vocab_size, hidden_size=s.hidden, num_hidden_layers=s.layers,
        num_attention_heads=s.heads, intermediate_size=s.ffn, max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=0, relative_attention=True, max_relative_positions=-1, position_buckets=256,
        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
        position_biased_input=False, layer_norm_eps=1e-7,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _xlnet(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # Relative positions only. Blocks are independent, so no Transformer-XL memory (mem_len=None).
    return XLNetConfig(
        vocab_size=ids.vocab_size, d_model=s.hidden, n_layer=s.layers, n_head=s.heads, d_inner=s.ffn,
        mem_len=None, pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _distilbert(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # Half the depth of bert at the same width, so bert-<size> can initialize it layer by layer.
    return DistilBertConfig(
        vocab_size=ids.vocab_size, dim=s.hidden, n_layers=_half(s.layers), n_heads=s.heads,
        hidden_dim=s.ffn, max_position_embeddings=MAX_POSITIONS,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
    )


def _bart(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # The depth is split between encoder and decoder; BART starts decoding from </s> (its config's default).
    depth = _half(s.layers)
    return BartConfig(
        vocab_size=ids.vocab_size, d_model=s.hidden, max_position_embeddings=MAX_POSITIONS,
        encoder_layers=depth, decoder_layers=depth, encoder_attention_heads=s.heads,
        decoder_attention_heads=s.heads, encoder_ffn_dim=s.ffn, decoder_ffn_dim=s.ffn,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos,
        decoder_start_token_id=ids.eos, forced_eos_token_id=ids.eos,
    )


def _t5(s: Shape, ids: SpecialIds) -> PreTrainedConfig:
    # T5 v1.0 (ReLU FFN, relative position buckets); decoding starts from pad, as in T5.
    depth = _half(s.layers)
    return T5Config(
        vocab_size=ids.vocab_size, d_model=s.hidden, d_kv=s.hidden // s.heads, d_ff=s.ffn,
        num_layers=depth, num_decoder_layers=depth, num_heads=s.heads,
        pad_token_id=ids.pad, eos_token_id=ids.eos, decoder_start_token_id=ids.pad,
    )


BUILDERS: dict[str, Callable[[Shape, SpecialIds], PreTrainedConfig]] = {
    "gpt2": _gpt2, "llama": _llama, "gpt-neox": _gpt_neox, "bert": _bert, "roberta": _roberta,
    "albert": _albert, "electra": _electra, "deberta-v2": _deberta_v2, "xlnet": _xlnet,
    "distilbert": _distilbert, "bart": _bart, "t5": _t5,
}

# Tokens without which a family's model cannot run: padding offsets RoBERTa's positions, and the
# encoder-decoders shift labels right with pad and end every target with eos.
REQUIRED_TOKENS = {"roberta": ("pad",), "bart": ("pad", "eos"), "t5": ("pad", "eos")}


def sizes_of(family: str) -> tuple[str, ...]:
    """The sizes a family's presets come in: tiny and small, and the ladder for gpt2, llama and bert."""
    return SIZES + (tuple(LADDER) if family in LADDER_FAMILIES else ())


# A preset is named `preset:gpt2-tiny`: the prefix cannot be part of a Hub id (no colon there), so a preset
# never shadows a real model (`t5-small` is Google's T5 on the Hub). The bare names of earlier releases are
# still read, with a note (lmlearn.cli), for one release.
PREFIX = "preset:"


def preset_names(prefixed: bool = False) -> list[str]:
    """All preset names, family by family (`preset:gpt2-tiny` with prefixed, else the bare `gpt2-tiny`)."""
    return [f"{PREFIX if prefixed else ''}{family}-{size}" for family in FAMILIES for size in sizes_of(family)]


def parse_preset(name: str) -> tuple[str, str] | None:
    """Split a preset name, `preset:family-size` or the bare `family-size`, into (family, size), or None if
    it is not a preset."""
    family, _, size = name.removeprefix(PREFIX).rpartition("-")
    return (family, size) if family in FAMILIES and size in sizes_of(family) else None


def bare_preset_names(value: str) -> list[str]:
    """The comma-separated parts of a setting that name a preset without its prefix (the deprecated form)."""
    return [part for part in (p.strip() for p in value.split(",")) if not part.startswith(PREFIX)
            and parse_preset(part) is not None]


def _parse_or_raise(name: str) -> tuple[str, str]:
    parsed = parse_preset(name)
    if parsed is None:
        close = difflib.get_close_matches(name, preset_names(prefixed=True), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise LmlearnError(f"unknown model preset '{name}': {hint}run `lmlearn models` to list them")
    return parsed


def _first(*ids: int | None) -> int | None:
    return next((i for i in ids if i is not None), None)


def preset_config(family: str, size: str, ids: SpecialIds) -> PreTrainedConfig:
    """The config of preset family-size with the given vocabulary size and special ids."""
    shape = SHAPE_OVERRIDES.get((family, size)) or SHAPES.get(size) or LADDER[size]
    return BUILDERS[family](shape, ids)


def build_config(name: str, tokenizer) -> PreTrainedConfig:
    """The config of preset `name`, sized to the tokenizer's vocabulary and special tokens."""
    family, size = _parse_or_raise(name)
    # A BERT-style vocabulary has [CLS]/[SEP] where others have <s>/</s>; they play the same part.
    ids = SpecialIds(
        vocab_size=len(tokenizer),
        pad=tokenizer.pad_token_id,
        bos=_first(tokenizer.bos_token_id, tokenizer.cls_token_id),
        eos=_first(tokenizer.eos_token_id, tokenizer.sep_token_id),
    )
    for token in REQUIRED_TOKENS.get(family, ()):
        if getattr(ids, token) is None:
            raise LmlearnError(f"preset '{name}' needs a tokenizer with a {token} token; this one has none")
    return preset_config(family, size, ids)
