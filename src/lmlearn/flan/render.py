"""One example through one template: the user turn and the answer.

Three ways of phrasing, the ablation of FLAN's section 4.3: `instruction` (a template of the
task, the default), `task-name` ("nli: <input>") and `none` (the bare input only). Whatever
the mode, classification turns end with FLAN's OPTIONS suffix. Training rows carry the whole
turn as the alpaca `instruction` with an empty `input`: `lmlearn instruct` needs an instruction
and would join an input after a blank line, and evaluation renders exactly this turn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lmlearn.flan.rows import Example
from lmlearn.flan.spec import Template, TaskSpec

MODES = ("instruction", "task-name", "none")
OPTIONS_HEADER = {"en": "OPTIONS:", "ko": "선택지:"}


@dataclass
class Rendered:
    """An example written out: the user turn, the answer, and which template wrote it."""

    user: str
    output: str
    template_id: str


def options_suffix(options: list[str], lang: str) -> str:
    """FLAN's answer list after a classification instruction: "\\n\\nOPTIONS:\\n- no\\n- yes"."""
    header = OPTIONS_HEADER.get(lang, OPTIONS_HEADER["en"])
    return f"\n\n{header}\n" + "\n".join(f"- {option}" for option in options)


def applicable(template: Template, example: Example) -> bool:
    """Whether the template fits the row: none of the fields it names is empty.

    A field that is empty on some rows restricts a template to the others (a "rewrite this"
    template only on true paraphrases, "write a sentence with these names" only where there are names).
    """
    return all(example.values[name].strip() for name in template.fields)


def choose_template(spec: TaskSpec, example: Example, rng: random.Random, inverted: bool = True) -> Template | None:
    """A template of the example's language that fits it, drawn at random (inverted ones only if allowed)."""
    fitting = [t for t in spec.templates[example.lang] if (inverted or not t.inverted) and applicable(t, example)]
    return rng.choice(fitting) if fitting else None


def render(example: Example, mode: str, template: Template | None = None) -> Rendered:
    """The example phrased in `mode` (`template` is needed for mode instruction)."""
    suffix = options_suffix(example.options, example.lang) if example.options else ""
    if mode == "instruction":
        assert template is not None, "mode instruction needs a template"
        text = template.instruction.format_map(example.values)
        # An inverted template asks for the input, which has no options.
        return Rendered(text + ("" if template.inverted else suffix), template.target.format_map(example.values),
                        template.id)
    if mode == "task-name":
        return Rendered(f"{example.task}: {example.input}{suffix}", example.answer, mode)
    return Rendered(example.input + suffix, example.answer, mode)
