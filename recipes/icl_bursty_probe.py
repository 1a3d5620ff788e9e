"""In-context learning probe of issue 14 (docs/results.md, "What is still not shown", in-context learning (4)).

  python recipes/icl_bursty_probe.py gen OUT.jsonl [DOCS] [POOL]   # bursty sorting documents to pre-train on
  lmlearn pretrain --objective clm --model preset:gpt2-tiny --data OUT.jsonl --vocab-size 4000 --block-size 256 \\
      --batch-size 16 --max-steps 3000 --lr 2e-3 --warmup-steps 100 --save-every 500 --out RUN
  python recipes/icl_bursty_probe.py probe RUN/model [POOL]        # does it copy the group of a repeated line?

Each document names two groups (world nouns, drawn again per document), draws POOL sentences per group and
lists 10-16 `sentence → group` lines from those pools, so most lines repeat an earlier one word for word.
The probe scores, at every arrow of 60 fresh documents, the right group name against the other one, split
into lines whose sentence appeared earlier in the document ("seen": a model that copies gets them right),
lines that did not, and the first line of each group (which no model can know).
"""

import json
import random
import sys

from lmlearn.data.builtin.phrasing import fill
from lmlearn.data.builtin.sorting import _HEADERS, ARROW, _names, opinion
from lmlearn.data.builtin.world import make_world


def document(rng: random.Random, world, pool: int, lang: str) -> str:
    praise, complaint = rng.sample(_names(world), 2)
    group = {1: praise, 0: complaint}
    header = fill(rng.choice(_HEADERS), {"a": praise, "b": complaint} if rng.random() < 0.5
                  else {"a": complaint, "b": praise})
    pools = {label: [opinion(rng, world, label) for _ in range(pool)] for label in (0, 1)}
    labels = [0, 1] + [rng.randint(0, 1) for _ in range(rng.randint(10, 16) - 2)]
    rng.shuffle(labels)
    side = 0 if lang == "en" else 1
    lines = [header[side]]
    for label in labels:
        name = group[label].en if side == 0 else group[label].ko
        lines.append(f"{rng.choice(pools[label])[side]} {ARROW} {name}")
    return "\n".join(lines)


def gen(out: str, docs: int = 6000, pool: int = 2) -> None:
    rng, world = random.Random(0), make_world(0)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(docs):
            text = document(rng, world, pool, "en" if i % 2 == 0 else "ko")
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def probe(model_dir: str, pool: int = 2) -> dict:
    rng, world = random.Random(123), make_world(0)
    docs = [document(rng, world, pool, "en" if d % 2 == 0 else "ko") for d in range(60)]
    return probe_documents(model_dir, docs, f" {ARROW} ")


def probe_documents(model_dir: str, docs: list[str], sep: str) -> dict:
    """At every `key SEP name` line after each document's header, the document's right name scored against
    its other one, split into keys seen earlier in the document, new keys, and each name's first line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    stats = {"seen": [0, 0], "new": [0, 0], "first_of_group": [0, 0]}
    for doc in docs:
        lines = doc.split("\n")
        names = sorted({line.rsplit(sep, 1)[1] for line in lines[1:]})
        seen, used, prefix = set(), set(), lines[0]
        for line in lines[1:]:
            key, name = line.rsplit(sep, 1)
            context = f"{prefix}\n{key}{sep.rstrip()}"
            n_context = len(tok(context).input_ids)
            scores = []
            for candidate in names:
                ids = tok(f"{context} {candidate}", return_tensors="pt").input_ids
                with torch.no_grad():
                    logp = model(ids).logits.log_softmax(-1)
                scores.append(sum(logp[0, i - 1, ids[0, i]].item() for i in range(n_context, ids.shape[1])))
            kind = "seen" if key in seen else ("first_of_group" if name not in used else "new")
            stats[kind][0] += names[scores.index(max(scores))] == name
            stats[kind][1] += 1
            seen.add(key)
            used.add(name)
            prefix = f"{prefix}\n{line}"
    return {k: {"accuracy": round(a / b, 3) if b else None, "lines": b} for k, (a, b) in stats.items()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["gen"]:
        gen(sys.argv[2], *map(int, sys.argv[3:5]))
    elif sys.argv[1:2] == ["probe"]:
        print(json.dumps(probe(sys.argv[2], *map(int, sys.argv[3:4]))))
    else:
        sys.exit(__doc__)
