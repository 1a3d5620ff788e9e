"""The architecture families lmlearn builds presets, tokenizers and heads for: one table of the facts
the rest of the package asks about a family (no imports, so anything may import it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """What lmlearn needs to know about one architecture family."""

    name: str
    kind: str  # "decoder" (left to right), "encoder" (bidirectional), "encoder-decoder", "permutation" (XLNet)
    model_type: str  # its config.json `model_type`
    segments: bool  # whether its inputs carry token_type_ids (sentence A / B)
    token_classifier: bool = True  # whether transformers has a *ForTokenClassification for it


TABLE: dict[str, Family] = {f.name: f for f in (
    Family("gpt2", "decoder", "gpt2", segments=False),
    Family("llama", "decoder", "llama", segments=False),
    Family("gpt-neox", "decoder", "gpt_neox", segments=False),
    Family("bert", "encoder", "bert", segments=True),
    Family("roberta", "encoder", "roberta", segments=False),
    Family("albert", "encoder", "albert", segments=True),
    Family("electra", "encoder", "electra", segments=True),
    Family("deberta-v2", "encoder", "deberta-v2", segments=True),
    Family("xlnet", "permutation", "xlnet", segments=True),
    Family("distilbert", "encoder", "distilbert", segments=False),
    Family("bart", "encoder-decoder", "bart", segments=False, token_classifier=False),
    Family("t5", "encoder-decoder", "t5", segments=False),
)}

FAMILIES: tuple[str, ...] = tuple(TABLE)
DECODERS: tuple[str, ...] = tuple(n for n, f in TABLE.items() if f.kind == "decoder")
ENCODERS: tuple[str, ...] = tuple(n for n, f in TABLE.items() if f.kind == "encoder")
ENCODER_DECODERS: tuple[str, ...] = tuple(n for n, f in TABLE.items() if f.kind == "encoder-decoder")
SEGMENT_FAMILIES: frozenset[str] = frozenset(n for n, f in TABLE.items() if f.segments)
TOKEN_CLASSIFIERS: tuple[str, ...] = tuple(n for n, f in TABLE.items() if f.token_classifier)
FAMILY_OF_MODEL_TYPE: dict[str, str] = {f.model_type: n for n, f in TABLE.items()}
