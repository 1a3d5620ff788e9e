"""Scoring speed: lmlearn's evaluation harness against lm-evaluation-harness (`lm_eval.simple_evaluate`),
on the same saved causal model and the same multiple-choice task, interleaved in one process.

The model is a gpt2-small preset built from scratch with a tokenizer trained on the built-in
corpus and saved once; each tool loads it once, outside the clock. The task is the built-in
corpus' reviews (review_sentiment's prompt) written to JSONL and defined for each tool the way
tests/test_evaluation.py does. Each timed call covers the same work in both tools: reading the
task's data, building the few-shot prompts, scoring every choice and computing acc/acc_norm
(no bootstrap standard errors). Prints the median seconds of each, the ratio lm-eval/lmlearn,
and checks both give the same acc in every round.

    .venv/bin/python benchmarks/eval_speed.py [--docs 300] [--shots 2] [--batch 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

# review_sentiment's prompt, choices and answer (src/lmlearn/evaluation/tasks/review_sentiment.yaml); both tools
# draw the shots with seed 1234 (lmlearn's fewshot_seed default, lm-eval's fewshot_random_seed default).
TASK_BODY = """output_type: multiple_choice
doc_to_text: "{{ text }}\\n{{ '감정:' if lang == 'ko' else 'Sentiment:' }}"
doc_to_choice: "{{ ['부정', '긍정'] if lang == 'ko' else ['negative', 'positive'] }}"
doc_to_target: label
target_delimiter: " "
fewshot_delimiter: "\\n\\n"
"""


def build_model(folder: Path, preset: str, vocab: int) -> None:
    """A from-scratch preset and its tokenizer, saved as a Hugging Face model folder."""
    from lmlearn.data.sources import load_source
    from lmlearn.models.factory import load_model
    from lmlearn.tokenization import train_tokenizer

    texts = load_source("builtin:corpus?docs=4000")["text"]
    tokenizer = train_tokenizer(texts, family=preset.rsplit("-", 1)[0], vocab_size=vocab)
    model = load_model(preset, "causal-lm", tokenizer, seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def write_task(root: Path, docs: int) -> tuple[Path, Path]:
    """Review rows as train/test JSONL, and the task defined for lmlearn (a YAML file) and for lm-eval (a folder)."""
    from lmlearn.data.sources import load_source

    rows = [{"text": r["text"], "lang": r["lang"], "label": r["label"]}
            for r in load_source("builtin:corpus?docs=12000").to_list() if r["genre"] == "review"]
    if len(rows) < docs + 50:
        raise SystemExit(f"--docs {docs}: the built-in corpus has only {len(rows)} reviews (50 kept for shots)")
    for name, part in (("test", rows[:docs]), ("train", rows[docs:docs + 200])):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    ours = root / "reviews.yaml"
    ours.write_text("task: reviews\ntest_data: test.jsonl\nfewshot_data: train.jsonl\n"
                    "metric_list: [acc, acc_norm]\n" + TASK_BODY)
    theirs = root / "lm_eval_tasks"
    theirs.mkdir()
    (theirs / "reviews_ref.yaml").write_text(
        "task: reviews_ref\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    train: {root / 'train.jsonl'}\n    test: {root / 'test.jsonl'}\n"
        "test_split: test\nfewshot_split: train\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n" + TASK_BODY)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="gpt2-small")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--docs", type=int, default=300, help="test documents")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="rows per forward pass, both tools")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (order alternates)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmlearn-eval-speed-") as scratch:
        compare(args, Path(scratch))


def compare(args: argparse.Namespace, scratch: Path) -> None:
    """Build the model and the task in `scratch`, then time both tools in interleaved rounds."""
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(scratch / "cache"),
                      HF_DATASETS_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    warnings.filterwarnings("ignore")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from lmlearn.evaluation import harness
    from lmlearn.evaluation.lm import load_model as load_lm
    from lmlearn.evaluation.task import load_task

    model_dir = scratch / "model"
    build_model(model_dir, args.preset, args.vocab)
    our_task, their_tasks = write_task(scratch, args.docs)
    ours_lm = load_lm(str(model_dir))
    theirs_lm = HFLM(pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=args.batch)
    manager = TaskManager(include_path=str(their_tasks), include_defaults=False)
    params = sum(p.numel() for p in ours_lm.model.parameters())
    print(f"{args.preset}: {params / 1e6:.2f}M parameters; {args.docs} documents x 2 choices, {args.shots}-shot, "
          f"batch {args.batch}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"lm-eval {lm_eval.__version__}")

    def run_lmlearn() -> float:
        task = load_task(str(our_task))
        return harness.evaluate(task, ours_lm, args.shots, batch_size=args.batch, bootstrap_iters=0)[0]["acc"]

    def run_lm_eval() -> float:
        out = lm_eval.simple_evaluate(model=theirs_lm, tasks=["reviews_ref"], num_fewshot=args.shots,
                                      task_manager=manager, bootstrap_iters=0, verbosity="ERROR")
        return out["results"]["reviews_ref"]["acc,none"]

    runners = {"lmlearn": run_lmlearn, "lm-eval": run_lm_eval}
    for run in runners.values():  # untimed: fills both tools' dataset caches and warms the model
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    accs: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(args.rounds):
        for name in names[r % 2:] + names[:r % 2]:
            start = time.perf_counter()
            accs[name].append(runners[name]())
            times[name].append(time.perf_counter() - start)
            print(f"round {r + 1} {name:8s} {times[name][-1]:.2f} s  acc {accs[name][-1]:.4f}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, value in medians.items():
        print(f"{name:8s} {value:.2f} s (median of {args.rounds})")
    ratio = medians["lm-eval"] / medians["lmlearn"]
    print(f"lm-eval/lmlearn: {ratio:.3f}")
    same = all(abs(a - b) < 1e-9 for a, b in zip(accs["lmlearn"], accs["lm-eval"]))
    print(f"same acc: {'yes' if same else 'NO'} ({accs['lmlearn'][0]:.4f} / {accs['lm-eval'][0]:.4f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "parameters": params, "median_sec": medians, "ratio": ratio,
                       "acc": accs, "same_acc": same}, f, indent=2)
    if not same:
        raise SystemExit("the two tools disagree on acc")


if __name__ == "__main__":
    main()
