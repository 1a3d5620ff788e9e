"""Copying probes of issue 14 (docs/results.md, in-context learning (5)): does a 2-layer model learn to copy
within a document, and does it copy a document's own word -> group mapping?

  python recipes/icl_copying_probe.py repeats OUT.jsonl        # 12 random world nouns, then the same 12 again
  python recipes/icl_copying_probe.py drills OUT.jsonl [SEP]   # word-sorting drills, `word SEP group` lines
  lmlearn pretrain --objective clm --model preset:llama-tiny --data OUT.jsonl --vocab-size 4000 --block-size 128 \\
      --batch-size 16 --max-steps 600 --lr 4e-3 --warmup-steps 50 --out RUN
  python recipes/icl_copying_probe.py probe RUN/model [SEP]    # the drills' group, by whether the word came before

A drill names two groups by colours (drawn per document), takes three words from each of two kinds of noun
and lists 10-16 `word → group` lines from them, so most words repeat within the document and the group of a
repeated word can be copied; the first line of each group cannot be known. SEP " " puts the group right
after its word (the layout a single induction head completes).
"""

import json
import random
import sys

from lmlearn.data.builtin.word_lists import KINDS
from lmlearn.data.builtin.world import make_world

ARROW = " → "


def repeats(out: str, docs: int = 8000) -> None:
    rng, world = random.Random(0), make_world(0)
    words = sorted({w.en for kind in KINDS for w in getattr(world, kind)})
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(docs):
            s = " ".join(rng.sample(words, 12))
            f.write(json.dumps({"text": f"{s} . {s} ."}) + "\n")


def drill(rng: random.Random, world, lang: str, sep: str = ARROW) -> str:
    side = 0 if lang == "en" else 1
    a, b = rng.sample(world.colours, 2)
    kinds = rng.sample([k for k in KINDS if k != "colours"], 2)
    pools = [rng.sample(getattr(world, kind), 3) for kind in kinds]
    names = [(a.en, a.ko)[side], (b.en, b.ko)[side]]
    head = f"Sort each word into {a.en} or {b.en}." if side == 0 else f"각 낱말을 {a.ko} 또는 {b.ko}으로 나누세요."
    labels = [0, 1] + [rng.randint(0, 1) for _ in range(rng.randint(8, 14))]
    rng.shuffle(labels)
    lines = [f"{(w.en, w.ko)[side]}{sep}{names[label]}" for label in labels for w in [rng.choice(pools[label])]]
    return "\n".join([head, *lines])


def drills(out: str, sep: str = ARROW, docs: int = 8000) -> None:
    rng, world = random.Random(0), make_world(0)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(docs):
            f.write(json.dumps({"text": drill(rng, world, "en" if i % 2 == 0 else "ko", sep)}, ensure_ascii=False) + "\n")


def probe(model_dir: str, sep: str = ARROW) -> dict:
    from icl_bursty_probe import probe_documents  # this folder's other probe: the same scoring

    rng, world = random.Random(77), make_world(0)
    return probe_documents(model_dir, [drill(rng, world, "en" if d % 2 == 0 else "ko", sep) for d in range(80)], sep)


if __name__ == "__main__":
    command, args = sys.argv[1:2], sys.argv[2:]
    if command == ["repeats"]:
        repeats(*args)
    elif command == ["drills"]:
        drills(*args)
    elif command == ["probe"]:
        print(json.dumps(probe(*args)))
    else:
        sys.exit(__doc__)
