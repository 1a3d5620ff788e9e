"""Causal-LM pre-training end to end: it learns, saves an interoperable folder, and resumes exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lmlearn.cli import main
from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.engine.metrics import read_metrics

DATA = "builtin:corpus?docs=800"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from lmlearn.data.sources import load_source
    from lmlearn.tokenization import train_tokenizer

    path = tmp_path_factory.mktemp("tok")
    train_tokenizer(load_source(DATA)["text"], family="gpt2", vocab_size=1000).save_pretrained(str(path))
    return str(path)


def settings(out, tokenizer_dir, **kw):
    base = dict(model="gpt2-tiny", data=DATA, tokenizer=tokenizer_dir, block_size=64, batch_size=8,
                max_steps=60, lr=3e-3, warmup_steps=5, eval_every=20, eval_batches=4, save_every=10,
                log_every=1, out=str(out), progress=False)
    base.update(kw)
    return base


def cli_args(d):
    args = []
    for k, v in d.items():
        flag = "--" + k.replace("_", "-")
        args += [flag if v is not False else "--no-" + k.replace("_", "-")] if isinstance(v, bool) else [flag, str(v)]
    return args


def test_clm_learns_and_saves_a_transformers_folder(tmp_path, tokenizer_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = run(PretrainConfig(**settings(tmp_path / "run", tokenizer_dir, max_steps=120)))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    assert summary["steps"] == 120 and summary["tokens_seen"] == 120 * 8 * 64
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 121))
    assert all({"step", "loss", "lr", "tokens_per_sec"} <= set(r) for r in rows)
    assert (tmp_path / "run" / "config.yaml").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    ids = tok("Minjun lives in", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=tok.eos_token_id)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8


def test_trains_its_own_tokenizer_when_none_given(tmp_path):
    summary = run(PretrainConfig(model="gpt2-tiny", data="builtin:corpus?docs=200", vocab_size=500, block_size=32,
                                 batch_size=4, max_steps=3, eval_every=0, out=str(tmp_path / "r"), progress=False))
    assert summary["steps"] == 3
    assert (tmp_path / "r" / "tokenizer" / "tokenizer.json").exists()
    assert (tmp_path / "r" / "model" / "tokenizer.json").exists()


def _losses(out):
    return {r["step"]: r["loss"] for r in read_metrics(out / "metrics.jsonl")}


def _start(out, tokenizer_dir, **kw):
    cmd = [sys.executable, "-m", "lmlearn.cli", "pretrain"] + cli_args(settings(out, tokenizer_dir, **kw))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())


def _wait_for_step(proc, out, step, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        rows = read_metrics(out / "metrics.jsonl") if (out / "metrics.jsonl").exists() else []
        if rows and rows[-1]["step"] >= step:
            return rows[-1]["step"]
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        time.sleep(0.005)
    raise AssertionError("run did not reach the step in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_run_resumes_with_identical_losses(tmp_path, tokenizer_dir, sig):
    steps = 400
    reference = tmp_path / "reference"
    run(PretrainConfig(**settings(reference, tokenizer_dir, max_steps=steps)))

    out = tmp_path / "interrupted"
    proc = _start(out, tokenizer_dir, max_steps=steps)
    reached = _wait_for_step(proc, out, 33)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert reached < steps, "the run ended before it could be interrupted"
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert b"checkpoint saved" in err and b"Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL

    resumed = run(PretrainConfig(**settings(out, tokenizer_dir, max_steps=steps, resume=True)))
    want, got = _losses(reference), _losses(out)
    assert sorted(got) == list(range(1, steps + 1))
    assert max(abs(want[s] - got[s]) for s in want) <= 1e-6
    assert resumed["eval_loss"] == pytest.approx(run_summary(reference)["eval_loss"], abs=1e-6)


def run_summary(out):
    return json.loads((out / "summary.json").read_text())


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from lmlearn.objectives.clm import CausalLM
    from lmlearn.engine.checkpoint import list_checkpoints
    from lmlearn.engine.loop import train
    from lmlearn.engine.settings import TrainSettings

    class Exploding(CausalLM):
        calls = 0

        def loss(self, model, batch):
            self.calls += 1
            loss = super().loss(model, batch)
            return loss * float("nan") if self.calls == 8 else loss

    model = torch.nn.Sequential()  # replaced below: a real tiny causal LM
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    data = torch.randint(0, 50, (64, 16))
    settings_ = TrainSettings(max_steps=20, batch_size=4, save_every=5, eval_every=0, progress=False)
    with pytest.raises(LmlearnError, match=r"loss became nan .* at step 8; .*step-00000005"):
        train(model, Exploding(), data, None, settings_, tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000005"]


def test_existing_run_is_not_overwritten(tmp_path, tokenizer_dir):
    cfg = settings(tmp_path / "r", tokenizer_dir, max_steps=2, eval_every=0)
    run(PretrainConfig(**cfg))
    with pytest.raises(LmlearnError, match="already holds a run .* --resume .* --overwrite"):
        run(PretrainConfig(**cfg))
    run(PretrainConfig(**{**cfg, "overwrite": True}))


@pytest.mark.parametrize("problem", ["missing", "malformed", "wrong_family"])
def test_cli_errors_are_one_line(tmp_path, capsys, problem, tokenizer_dir):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a"}\n{"text": "b"\n')
    args = {"missing": ["--data", str(tmp_path / "nope.txt")],
            "malformed": ["--data", str(data)],
            "wrong_family": ["--model", "bert-tiny"]}[problem]
    code = main(["pretrain", "--out", str(tmp_path / "o"), "--tokenizer", tokenizer_dir, *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    expected = {"missing": "nope.txt", "malformed": "d.jsonl:2: malformed JSON",
                "wrong_family": "families it supports: gpt2, llama, gpt-neox"}[problem]
    assert expected in err
    with pytest.raises(LmlearnError):
        main(["pretrain", "--debug", "--out", str(tmp_path / "o"), "--tokenizer", tokenizer_dir, *args])
