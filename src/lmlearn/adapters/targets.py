"""Default target modules of lora and ia3 for each preset family (peft matches them as name suffixes)."""

from __future__ import annotations

from lmlearn.errors import LmlearnError

# The attention projections: query, key, value and output (LoRA paper §7.1 finds adapting all four
# at a small rank better than a larger rank on fewer). GPT-2 and GPT-NeoX fuse q, k and v into one
# matrix; "attn.c_proj" and "attention.dense" keep the MLP's projections out. XLNet's attention holds
# raw parameters rather than Linear layers, so LoRA can only reach its feed-forward layers.
LORA_TARGETS: dict[str, list[str]] = {
    "gpt2": ["c_attn", "attn.c_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gpt-neox": ["query_key_value", "attention.dense"],
    "bert": ["query", "key", "value", "attention.output.dense"],
    "roberta": ["query", "key", "value", "attention.output.dense"],
    "albert": ["query", "key", "value", "attention.dense"],
    "electra": ["query", "key", "value", "attention.output.dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "attention.output.dense"],
    "xlnet": ["layer_1", "layer_2"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin"],
    "bart": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "t5": ["q", "k", "v", "o"],
}

# (IA)3 rescales keys, values and the input of the second feed-forward layer (Liu et al. 2022, §3.3);
# the second list names the feed-forward layers, whose input rather than output is rescaled. GPT-2
# and GPT-NeoX fuse q with k and v, so their queries are rescaled too; "output.dense" of the BERT
# family also matches the attention output, as in peft's own defaults.
IA3_TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "gpt2": (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
    "llama": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
    "gpt-neox": (["query_key_value", "dense_4h_to_h"], ["dense_4h_to_h"]),
    "bert": (["key", "value", "output.dense"], ["output.dense"]),
    "roberta": (["key", "value", "output.dense"], ["output.dense"]),
    "albert": (["key", "value", "ffn_output"], ["ffn_output"]),
    "electra": (["key", "value", "output.dense"], ["output.dense"]),
    "deberta-v2": (["key_proj", "value_proj", "output.dense"], ["output.dense"]),
    "xlnet": (["layer_2"], ["layer_2"]),
    "distilbert": (["k_lin", "v_lin", "lin2"], ["lin2"]),
    "bart": (["k_proj", "v_proj", "fc2"], ["fc2"]),
    "t5": (["k", "v", "wo"], ["wo"]),
}


def default_targets(table: dict, family: str, flag: str):
    """The family's row of `table`, or an error asking for the flag (a model outside the presets)."""
    if family not in table:
        raise LmlearnError(f"no default target modules for a {family} model; name them with {flag} "
                           "(comma-separated Linear layer names, or all-linear)")
    return table[family]
