"""A comparison's YAML: one task (training rows, test rows, and how a prompt shows a document), the seeds,
the reference arm, and the arms, each an existing command with its settings.

```yaml
task:
  data: builtin:sentiment?n=400&seed=1       # training rows (finetune arms; demonstrations of k-shot arms)
  test_data: builtin:sentiment?n=200&seed=2  # every arm is scored on these documents, once each
  text_column: text
  label_column: label
  prompt:                                    # the evaluate task fields for prompting arms
    doc_to_text: "{{ text }}\\nSentiment:"
    doc_to_choice: [negative, positive]
seeds: [0, 1, 2]                             # trained arms run once per seed
reference: full                              # every arm's interval is against this arm
arms:
  zero-shot: {command: evaluate, model: runs/lm/model, shots: 0}
  full: {command: finetune, model: runs/lm/model, lr: 1.0e-3}
  lora: {command: finetune, model: runs/lm/model, peft: lora, lr: 4.0e-3}
  distilled: {command: distill, method: kd, task: classify, teacher: "{run:full}/model", layers: "0"}
```

A setting may name an earlier trained arm's run of the same seed, `{run:ARM}` (its folder), and the seed,
`{seed}`: so a distilled arm's teacher is the fine-tuned arm of its own seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmlearn.errors import LmlearnError

# what an arm may be, and how its settings are checked: the command's own Config
ARM_COMMANDS = {
    "finetune": "lmlearn.workflows.finetune",
    "distill": "lmlearn.workflows.distill",
    "evaluate": "lmlearn.workflows.evaluate",
}
TRAINED = ("finetune", "distill")
# settings the comparison sets itself, so every arm reads the same documents and writes where it is found
OWNED = {"finetune": ("data", "eval_data", "out", "seed", "resume", "overwrite", "progress"),
         "distill": ("data", "eval_data", "out", "seed", "resume", "overwrite", "progress"),
         "evaluate": ("task", "out")}
TASK_KEYS = ("data", "test_data", "text_column", "label_column", "text_pair_column", "task", "prompt")


@dataclass
class Arm:
    """One way of teaching the model the task."""

    name: str
    command: str
    settings: dict[str, Any]  # the command's settings as written (the comparison adds data, out, seed)
    where: str  # compare.yaml:line
    prompt: dict[str, Any] = field(default_factory=dict)  # a prompting arm's own prompt fields, over the task's

    @property
    def trained(self) -> bool:
        return self.command in TRAINED


@dataclass
class CompareSpec:
    """The parsed YAML."""

    path: Path
    task: dict[str, Any]
    arms: list[Arm]
    seeds: list[int] = field(default_factory=lambda: [0])
    reference: str = ""


def load_spec(path: str) -> CompareSpec:
    """Read and check the comparison file; every problem names its file and line."""
    import yaml

    from lmlearn.config import load_yaml

    if not Path(path).is_file():
        raise LmlearnError(f"--file {path}: no such file")
    data, root = load_yaml(path, "comparison file")
    if not data:
        raise LmlearnError(f"{path}: empty; a comparison needs task: and arms:")
    nodes = {k.value: (k, v) for k, v in root.value}

    def where(key: str, node: Any = None) -> str:
        mark = (node or nodes[key][0]).start_mark
        return f"{path}:{mark.line + 1}"

    for key in data:
        if key not in ("task", "arms", "seeds", "reference"):
            raise LmlearnError(f"{where(key)}: unknown key '{key}'; a comparison has task, arms, seeds, reference")
    for key in ("task", "arms"):
        if not isinstance(data.get(key), dict) or not data[key]:
            raise LmlearnError(f"{path}: '{key}' must be a non-empty mapping")
    task = data["task"]
    for key in task:
        if key not in TASK_KEYS:
            raise LmlearnError(f"{where('task')}: unknown task key '{key}'; task keys: {', '.join(TASK_KEYS)}")
    for key in ("data", "test_data"):
        if not task.get(key):
            raise LmlearnError(f"{where('task')}: task needs '{key}'")
    arms = []
    arm_nodes = {k.value: k for k, _ in nodes["arms"][1].value} if isinstance(nodes["arms"][1], yaml.MappingNode) else {}
    for name, settings in data["arms"].items():
        at = where("arms", arm_nodes.get(name))
        if not isinstance(settings, dict) or "command" not in settings:
            raise LmlearnError(f"{at}: arm '{name}' needs command: ({', '.join(ARM_COMMANDS)}) and its settings")
        command = settings.pop("command")
        if command not in ARM_COMMANDS:
            raise LmlearnError(f"{at}: arm '{name}': command '{command}' is not one of {', '.join(ARM_COMMANDS)}")
        owned = [k for k in settings if k in OWNED[command]]
        if owned:
            raise LmlearnError(f"{at}: arm '{name}' sets {', '.join(owned)}, which the comparison sets for every arm")
        prompt = settings.pop("prompt", None) if command == "evaluate" else None
        if prompt is not None and not isinstance(prompt, dict):
            raise LmlearnError(f"{at}: arm '{name}': prompt must be a mapping of prompt fields (doc_to_text, ...)")
        if command == "evaluate" and "prompt" not in task:
            raise LmlearnError(f"{at}: arm '{name}' prompts the model, so task: needs prompt: (doc_to_text, ...)")
        for key, value in settings.items():  # {run:ARM}: a trained arm listed before, which runs first
            for ref in re.findall(r"\{run:([^}]*)\}", value) if isinstance(value, str) else []:
                if ref not in {a.name for a in arms if a.trained}:
                    raise LmlearnError(f"{at}: arm '{name}': {key} names {{run:{ref}}}, which is not a trained arm "
                                       f"listed before it ({', '.join(a.name for a in arms if a.trained) or 'none'})")
        arms.append(Arm(str(name), command, settings, at, prompt or {}))
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise LmlearnError(f"{where('seeds')}: seeds must be a list of whole numbers, e.g. [0, 1, 2]")
    reference = str(data.get("reference") or arms[0].name)
    if reference not in {a.name for a in arms}:
        raise LmlearnError(f"{where('reference')}: reference '{reference}' is not an arm "
                           f"({', '.join(a.name for a in arms)})")
    return CompareSpec(Path(path), task, arms, seeds, reference)
