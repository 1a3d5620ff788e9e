"""Zero-shot evaluation tasks for `lmlearn evaluate`: one YAML file and one JSON lines file per task and language.

As in FLAN, an unseen task is asked with its own instruction templates (one drawn per
document, never an inverted one) and classification is scored by ranking the options. The
prompt is rendered here, once, through `lmlearn.instruct`'s chat template, so that evaluation
sees the exact text that training on the same `--template` shows the model; the task file
then only points at the rendered columns.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

from lmlearn.errors import LmlearnError
from lmlearn.flan.mixture import Split
from lmlearn.flan.render import choose_template, render
from lmlearn.io import atomic_write_text

# ChatML closes a turn with <|im_end|>; the other formats end it with the tokenizer's EOS, where generation stops anyway.
TURN_END = "<|im_end|>"


def chat_prompt(user: str, template: str, tokenizer: Any | None = None) -> str:
    """The user turn as the model sees it, up to the assistant's opener: one call to lmlearn.instruct.

    With the tokenizer, the prompt starts with its bos token, as instruction tuning renders it.
    """
    try:
        from lmlearn.instruct.templates import render_prompt
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("lmlearn.instruct"):
            raise
        raise LmlearnError("writing the evaluation tasks needs lmlearn.instruct (render_prompt), which this "
                           "installation lacks") from None
    return render_prompt([{"role": "user", "content": user}], template, tokenizer)


def documents(split: Split, mode: str, template: str, seed: int, tokenizer: Any | None = None) -> dict[str, list[dict]]:
    """The test examples of a task as evaluation documents, by language."""
    spec = split.spec
    rng = random.Random(f"flan-eval:{spec.task}:{seed}")
    docs: dict[str, list[dict]] = {}
    for example in split.test:
        chosen = choose_template(spec, example, rng, inverted=False) if mode == "instruction" else None
        if mode == "instruction" and chosen is None:
            continue
        r = render(example, mode, chosen)
        doc = {"prompt": chat_prompt(r.user, template, tokenizer), "target": r.output, "input": example.input,
               "lang": example.lang, "template_id": r.template_id}
        if example.options:
            doc.update(options=example.options, gold=example.options.index(r.output))
        docs.setdefault(example.lang, []).append(doc)
    return docs


def task_file(name: str, data_file: str, docs: list[dict], header: str) -> str:
    """The harness task: multiple choice over the options, or generation scored by exact match."""
    body: dict = {"task": name, "test_data": data_file, "doc_to_text": "prompt"}
    if "options" in docs[0]:
        # The prompt ends with the assistant's opener. ChatML and Alpaca end it with a newline and the
        # answer follows directly; KoAlpaca ends at "### 답변:" and the model writes the space itself.
        delimiter = "" if docs[0]["prompt"][-1:].isspace() else " "
        body.update(output_type="multiple_choice", doc_to_choice="options", doc_to_target="gold",
                    target_delimiter=delimiter, metric_list=["acc", "acc_norm", "acc_mutual_info"])
    else:
        one_line = all("\n" not in d["target"] for d in docs)
        longest = max(len(d["target"]) for d in docs)
        # Up to three tokens a character: byte-level BPE spends that much on Hangul (three UTF-8 bytes each).
        body.update(output_type="generate_until", doc_to_target="target",
                    generation_kwargs={"until": [TURN_END, "\n" if one_line else "\n\n"],
                                       "max_new_tokens": min(256, 3 * longest + 8)},
                    metric_list=["exact_match", "f1"])
    return header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False)


def write_eval(folder: Path, splits: list[Split], mode: str, template: str, seed: int, why: str,
               tokenizer: Any | None = None) -> list[dict]:
    """Write eval/<task>.<lang>.yaml and .jsonl for each split; returns what was written, one entry a file."""
    written = []
    for split in splits:
        spec = split.spec
        for lang, docs in documents(split, mode, template, seed, tokenizer).items():
            stem = f"{spec.task}.{lang}"
            header = (f"# {why}: task {spec.task} ({lang}) of cluster {spec.cluster}, zero-shot, prompts in {mode} "
                      f"mode rendered with the {template} chat template.\n# Written by `lmlearn flan build` from "
                      f"{spec.path.name}; evaluate a model instruction-tuned with the same --template.\n")
            atomic_write_text(folder / f"{stem}.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
            atomic_write_text(folder / f"{stem}.yaml", task_file(f"{spec.task}_{lang}", f"{stem}.jsonl", docs, header))
            written.append({"file": f"eval/{stem}.yaml", "task": spec.task, "cluster": spec.cluster, "lang": lang,
                            "docs": len(docs), "dropped": sum(1 for e in split.test if e.lang == lang) - len(docs)})
    return written
