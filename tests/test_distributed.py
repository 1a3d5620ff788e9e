"""Data-parallel runs: two CPU processes through `accelerate launch` match one process with the
global batch, draw different masks per process, score each evaluation batch once, and one writes."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.engine.loop import evaluate
from lmlearn.engine.method import shard
from lmlearn.engine.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[1]
DATA = "builtin:corpus?docs=200"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny gpt2 and bert folders without dropout (dropout draws from each process's own generator,
    so only dropout-free models can match a one-process run step for step), with their tokenizers."""
    from lmlearn.data.sources import load_source
    from lmlearn.models.factory import build_model
    from lmlearn.models.presets import build_config
    from lmlearn.tokenization import train_tokenizer

    texts = list(load_source(DATA)["text"])
    root = tmp_path_factory.mktemp("dp")
    made = {}
    for family, head, kind in (("gpt2", "causal-lm", "bpe"), ("bert", "masked-lm", "wordpiece")):
        tok = train_tokenizer(texts, family=family, kind=kind, vocab_size=1500)
        config = build_config(f"{family}-tiny", tok)
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "hidden_dropout_prob", "attention_probs_dropout_prob"):
            if hasattr(config, name):
                setattr(config, name, 0.0)
        build_model(config, head, seed=0).save_pretrained(root / family)
        tok.save_pretrained(root / family)
        made[family] = root / family
    return made


def _flags(objective, model, out, batch):
    return ["--objective", objective, "--model", str(model), "--data", DATA, "--block-size", "32",
            "--batch-size", str(batch), "--max-steps", "4", "--lr", "3e-3", "--warmup-steps", "0",
            "--log-every", "1", "--eval-every", "2", "--eval-batches", "3", "--eval-fraction", "0.1",
            "--out", str(out), "--no-progress"]


def _losses(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("objective,family", [("clm", "gpt2"), ("mlm", "bert")])
def test_two_processes_match_one_process_with_the_global_batch(objective, family, folders, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", "2",
              "--main_process_port", str(29600 + (os.getpid() % 300)), "-m", "lmlearn", "pretrain"]
    done = subprocess.run(launch + _flags(objective, folders[family], tmp_path / "two", 4), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    cfg = dict(objective=objective, model=str(folders[family]), data=DATA, block_size=32, batch_size=8, max_steps=4,
               lr=3e-3, warmup_steps=0, log_every=1, eval_every=2, eval_batches=3, eval_fraction=0.1,
               out=str(tmp_path / "one"), progress=False)
    run(PretrainConfig(**cfg))
    two, one = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert [r["step"] for r in two] == [1, 2, 3, 4]  # one writer: every line once
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4), (a, b)
        assert a["tokens_seen"] == b["tokens_seen"]
        if "eval_loss" in b:
            assert a["eval_loss"] == pytest.approx(b["eval_loss"], abs=1e-4)
    assert "model" in os.listdir(tmp_path / "two") and not [p for p in os.listdir(tmp_path / "two") if ".tmp" in p]


def test_processes_draw_different_masks_that_are_the_one_process_masks(folders):
    """The global micro-batch is collated once per process with one generator and split by rows, so
    identical rows get different masks on different processes, and the masks of a one-process run."""
    from transformers import AutoTokenizer

    from lmlearn.objectives import get_objective

    tok = AutoTokenizer.from_pretrained(folders["bert"])
    objective = get_objective("mlm")(PretrainConfig(objective="mlm"), tok)
    text = "민준은 서울에 산다. Minjun lives in Seoul and reads every day."
    row = torch.tensor([tok.cls_token_id] + tok(text, add_special_tokens=False)["input_ids"] + [tok.sep_token_id])
    examples = row.repeat(8, 1)
    whole = objective.collate(examples, torch.Generator().manual_seed(7))
    parts = [shard(objective, objective.collate(examples, torch.Generator().manual_seed(7)), 8, rank, 2)
             for rank in range(2)]
    assert torch.equal(torch.cat([p["labels"] for p in parts]), whole["labels"])
    masked = [p["labels"] != -100 for p in parts]
    assert masked[0].any() and not torch.equal(masked[0], masked[1])


class _TwoProcesses:
    """What `evaluate` asks of an Accelerator, as process `rank` of two sees it (the sum is faked)."""

    def __init__(self, rank):
        self.process_index, self.num_processes, self.device = rank, 2, torch.device("cpu")

    def unwrap_model(self, model):
        return model

    def autocast(self):
        return torch.autocast("cpu", enabled=False)

    def reduce(self, tensor, op):
        return tensor


def test_each_evaluation_batch_is_scored_by_one_process():
    seen = {0: [], 1: []}

    class Counting:
        def collate(self, examples, generator):
            return {"input_ids": torch.stack(examples)}

        def step(self, models, batch):
            seen[current].append(batch["input_ids"][:, 0].tolist())
            return types.SimpleNamespace(loss=torch.tensor(1.0), tokens=batch["input_ids"].shape[0], metrics={})

    data = [torch.tensor([i]) for i in range(10)]
    for current in (0, 1):
        evaluate(torch.nn.Linear(1, 1), Counting(), data, TrainSettings(batch_size=2, eval_batches=5),
                 _TwoProcesses(current))
    docs = [d for rank in (0, 1) for batch in seen[rank] for d in batch]
    assert sorted(docs) == list(range(10)) and seen[0] and seen[1]


def test_fsdp_on_cpu():
    pytest.skip("torch's FSDP2 runs over gloo on this CPU (checked by hand: fully_shard on two processes), "
                "but accelerate 1.16 routes every CPU run to DDP (MULTI_CPU), so accelerate's FSDP plugin "
                "cannot be exercised without a GPU; see docs/scale-out.md")


def _pairs(path, n=64):
    import random

    words = "red blue green sky sea tree cat dog sun moon".split()
    g = random.Random(0)
    rows = []
    for _ in range(n):
        said, other = (" ".join(g.choice(words) for _ in range(g.randrange(1, 5))) for _ in range(2))
        rows.append({"prompt": f"Repeat: {said} ->", "chosen": " " + said, "rejected": " " + other})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("command", ["dpo", "reward", "ppo"])
def test_alignment_on_two_processes_matches_one_process(command, folders, tmp_path):
    """DPO, the reward model (its score read through DDP's forward) and PPO (each process draws the whole
    rollout and keeps its rows) on two processes with batch 2 log the losses of one process with batch 4."""
    import importlib

    data = _pairs(tmp_path / "pairs.jsonl")
    (tmp_path / "two_process_reward.py").write_text("def short(prompts, answers):\n"
                                                   "    return [-len(a) / 10 for a in answers]\n")
    flags = {"model": str(folders["gpt2"]), "data": str(data), "max_steps": 4, "lr": 3e-3, "warmup_steps": 0,
             "log_every": 1, "seed": 0, "progress": False}
    if command == "ppo":
        # a module name of its own: tests/test_align.py imports other reward modules into this process
        flags.update(reward="two_process_reward:short", rollout_batch=8, ppo_epochs=2, max_new_tokens=6,
                     eval_fraction=0.25)
    else:
        flags.update(block_size=64, eval_fraction=0.25, eval_every=2, eval_batches=2)
    argv = []
    for key, value in {**flags, "batch_size": 2, "out": str(tmp_path / "two")}.items():
        if key == "progress":
            argv.append("--no-progress")
        else:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{tmp_path}"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", "2",
              "--main_process_port", str(29600 + (os.getpid() + len(command)) % 300), "-m", "lmlearn", command]
    done = subprocess.run(launch + argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    module = importlib.import_module(f"lmlearn.workflows.{command}")
    sys.path.insert(0, str(tmp_path))
    try:
        module.run(module.Config(**{**flags, "batch_size": 4, "out": str(tmp_path / "one")}))
    finally:
        sys.path.remove(str(tmp_path))
    two, one = _losses(tmp_path / "two"), _losses(tmp_path / "one")
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4), (a, b)
        if "eval_loss" in b:
            assert a["eval_loss"] == pytest.approx(b["eval_loss"], abs=1e-4)
