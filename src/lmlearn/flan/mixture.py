"""Mix tasks into one training set: test examples split off, clusters chosen, a cap per task.

FLAN mixes its datasets in proportion to their sizes with a cap per dataset (30k there), so
that large tasks do not crowd out small ones; written out once, that is: every task gives
min(size, cap) examples, and the lot is shuffled. Each example is phrased by a template of its
task drawn at random. Every draw has its own seed string naming the task, so adding a task,
changing the cap or holding a cluster out never changes another task's split or phrasing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lmlearn.errors import LmlearnError
from lmlearn.flan.render import choose_template, render
from lmlearn.flan.rows import Example
from lmlearn.flan.spec import TaskSpec


@dataclass
class Split:
    """A task's examples, split into training and test: no test input occurs among the training ones."""

    spec: TaskSpec
    train: list[Example]
    test: list[Example]


@dataclass
class Mixture:
    """The training rows, how many came from each task, and rows no template fitted."""

    rows: list[dict]
    counts: dict[str, int] = field(default_factory=dict)
    unfitted: dict[str, int] = field(default_factory=dict)


def split_task(spec: TaskSpec, examples: list[Example], eval_size: int, seed: int) -> Split:
    """Hold out `eval_size` distinct inputs (seeded); training keeps every row whose input is not among them.

    Generated data repeats inputs ("reverse 'cat'" comes up many times), so the split is made on
    distinct inputs, not rows: otherwise a test question would also be a training question.
    """
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.input, example)
    keys = list(first)
    random.Random(f"flan-split:{spec.task}:{seed}").shuffle(keys)
    held = set(keys[:eval_size])
    test = [first[k] for k in keys[:eval_size]]
    return Split(spec, [e for e in examples if e.input not in held], test)


def training_clusters(available: list[str], hold_out: str | None, clusters: list[str], num_clusters: int,
                      seed: int) -> list[str]:
    """The clusters to train on: `clusters` (or all but the held-out one), then K of them in one seeded order.

    The order does not depend on K, so the sets are nested (K=1's cluster is among K=2's), as in FLAN's
    section 4.1, which adds clusters largest first; here the order is seeded.
    """
    for name in clusters + ([hold_out] if hold_out else []):
        if name not in available:
            raise LmlearnError(f"cluster '{name}' is not among the tasks' clusters: {', '.join(available)}")
    if hold_out and hold_out in clusters:
        raise LmlearnError(f"--clusters names the held-out cluster '{hold_out}'; it cannot be trained on")
    pool = sorted({c for c in (clusters or available) if c != hold_out})
    if num_clusters < 0 or num_clusters > len(pool):
        raise LmlearnError(f"--num-clusters {num_clusters}: there are {len(pool)} training clusters "
                           f"({', '.join(pool)}); use 1 to {len(pool)}, or 0 for all")
    random.Random(f"flan-clusters:{seed}").shuffle(pool)
    return pool[:num_clusters] if num_clusters else pool


def mix(splits: list[Split], clusters: list[str], max_per_task: int, mode: str, seed: int) -> Mixture:
    """The shuffled alpaca rows of the training clusters' tasks, at most `max_per_task` per task."""
    mixture = Mixture(rows=[])
    for split in splits:
        spec = split.spec
        if spec.cluster not in clusters:
            continue
        if not split.train:
            raise LmlearnError(f"{spec.where('data')}: task {spec.task} has no training rows left after the test "
                               "split; lower --eval-size or give it more data")
        picked = random.Random(f"flan-cap:{spec.task}:{seed}").sample(split.train, min(max_per_task, len(split.train)))
        rng = random.Random(f"flan-render:{spec.task}:{seed}")
        for example in picked:
            template = choose_template(spec, example, rng) if mode == "instruction" else None
            if mode == "instruction" and template is None:
                mixture.unfitted[spec.task] = mixture.unfitted.get(spec.task, 0) + 1
                continue
            r = render(example, mode, template)
            mixture.rows.append({"instruction": r.user, "input": "", "output": r.output,
                                 "task": spec.task, "cluster": spec.cluster, "lang": example.lang,
                                 "template_id": r.template_id})
        mixture.counts[spec.task] = sum(1 for row in mixture.rows if row["task"] == spec.task)
    random.Random(f"flan-mix:{seed}").shuffle(mixture.rows)
    return mixture
