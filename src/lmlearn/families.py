"""The architecture families lmlearn builds presets, tokenizers and heads for (one list, no imports)."""

FAMILIES: tuple[str, ...] = (
    "gpt2", "llama", "gpt-neox", "bert", "roberta", "albert",
    "electra", "deberta-v2", "xlnet", "distilbert", "bart", "t5",
)
