"""`lmlearn recipe run FILE`: run the commands a multi-step recipe chains (translate → instruct →
evaluate for KoLIMA), each step with its own settings, in order.

A recipe file holds `steps:`, a list of one-key mappings, the command and its settings:

    steps:
      - translate: {data: seed.jsonl, to: ko, backend: deepl, out: runs/kolima/seed.ko.jsonl}
      - instruct: {model: gpt-neox-small, data: runs/kolima/seed.ko.jsonl, out: runs/kolima/sft}
      - evaluate: {model: runs/kolima/sft/model, task: nsmc, out: runs/kolima/eval.json}

Every step's settings are checked (unknown keys and wrong types name the file and line) before the
first step runs. `--from-step N` starts at step N, to continue after a failed or interrupted step
(translate resumes from its cache, instruct with `resume: true`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Config:
    """Settings of `lmlearn recipe run`."""

    file: str = option("", "recipe YAML file with a list of steps")
    from_step: int = option(1, "the step to start at (1 is the first)", range=">=1")


def _command_modules() -> dict[str, str]:
    from lmlearn.cli import COMMANDS

    return {" ".join(words): module for words, module, _ in COMMANDS if words[0] != "recipe"}


def load_steps(path: str) -> list[tuple[str, Any, str]]:
    """[(command, its resolved settings, file:line)] for every step, checked before anything runs."""
    import yaml

    from lmlearn.config import parse_yaml, resolve_items, suggest

    if not os.path.isfile(path):
        raise LmlearnError(f"recipe file not found: {path}")
    _, root = parse_yaml(path)
    steps = next((v for k, v in getattr(root, "value", []) if k.value == "steps"), None)
    if not isinstance(steps, yaml.SequenceNode) or not steps.value:
        raise LmlearnError(f"{path}: a recipe needs `steps:`, a list of `- COMMAND: {{settings}}`")
    commands = _command_modules()
    loaded = []
    for node in steps.value:
        where = f"{path}:{node.start_mark.line + 1}"
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            raise LmlearnError(f"{where}: a step is one `COMMAND: {{settings}}` mapping")
        key, body = node.value[0]
        if key.value not in commands:
            raise LmlearnError(f"{where}: unknown command '{key.value}'{suggest(key.value, sorted(commands))}")
        if not isinstance(body, yaml.MappingNode):
            raise LmlearnError(f"{where}: the settings of '{key.value}' must be a mapping")
        items = {k.value: (yaml.safe_load(yaml.serialize(v)), f"{path}:{k.start_mark.line + 1}") for k, v in body.value}
        module = importlib.import_module(commands[key.value])
        loaded.append((key.value, resolve_items(module.Config, items), where))
    return loaded


def main(cfg: Config) -> int:
    """Run the steps in order; stop at the first that fails."""
    if not cfg.file:
        raise LmlearnError("lmlearn recipe run: give the recipe file (--file FILE)")
    steps = load_steps(cfg.file)
    if not 1 <= cfg.from_step <= len(steps):
        raise LmlearnError(f"--from-step {cfg.from_step}: the recipe has steps 1 to {len(steps)}")
    commands = _command_modules()
    for number, (command, settings, where) in enumerate(steps, 1):
        if number < cfg.from_step:
            continue
        print(f"== step {number}/{len(steps)}: lmlearn {command} ({where})", flush=True)
        code = importlib.import_module(commands[command]).main(settings)
        if code:
            raise LmlearnError(f"step {number} (lmlearn {command}) exited with {code}; fix it and rerun with "
                               f"--from-step {number}")
    return 0
