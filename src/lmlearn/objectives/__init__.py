"""Registry of pre-training objectives: the name used by `lmlearn pretrain --objective NAME`.

An objective is one file holding a subclass of `lmlearn.objectives.base.Objective`; its
`Options` dataclass (if any) adds its own flags to `lmlearn pretrain`. Adding one means writing
that file and one line here.
"""

from __future__ import annotations

from lmlearn.registry import lookup

OBJECTIVES = {
    "clm": "lmlearn.objectives.clm:CausalLM",
    "mlm": "lmlearn.objectives.mlm:MaskedLM",
    "mlm+nsp": "lmlearn.objectives.nsp:MaskedLMWithNSP",
    "mlm+sop": "lmlearn.objectives.sop:MaskedLMWithSOP",
    "electra": "lmlearn.objectives.electra:Electra",
    "plm": "lmlearn.objectives.plm:PermutationLM",
    "span": "lmlearn.objectives.span:SpanBERT",
    "denoise": "lmlearn.objectives.denoise:BartDenoising",
    "t5": "lmlearn.objectives.t5:SpanCorruption",
    "mass": "lmlearn.objectives.mass:MASS",
    "tlm": "lmlearn.objectives.tlm:TranslationLM",
}


def objective_names() -> list[str]:
    """The registered objective names."""
    return sorted(OBJECTIVES)


def get_objective(name: str) -> type:
    """The objective class registered under `name`."""
    return lookup(OBJECTIVES, name, "objective", objective_names())


def option_classes() -> list[type]:
    """Every objective's Options dataclass, in registry order (their fields become pretrain flags)."""
    classes = [get_objective(name).Options for name in OBJECTIVES]
    return list(dict.fromkeys(c for c in classes if c is not None))
