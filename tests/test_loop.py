"""The shared training loop's parts: schedule, accumulation, batch order, checkpoints, TensorBoard."""

import copy
import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lmlearn.errors import LmlearnError
from lmlearn.objectives.clm import CausalLM
from lmlearn.engine.checkpoint import list_checkpoints
from lmlearn.engine.loop import BatchOrder, train
from lmlearn.engine.method import shard
from lmlearn.engine.optim import lr_factor, make_optimizer
from lmlearn.engine.settings import TrainSettings


def tiny_gpt(dropout=0.0):
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                      resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout))


def quiet(**kw):
    base = dict(eval_every=0, save_every=1000, progress=False, warmup_steps=0, schedule="constant")
    base.update(kw)
    return TrainSettings(**base)


def test_schedule_warms_up_then_decays_to_the_floor():
    s = TrainSettings(max_steps=110, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, s) == pytest.approx(0.1) and lr_factor(9, s) == pytest.approx(1.0)
    assert lr_factor(10, s) == pytest.approx(1.0) and lr_factor(60, s) == pytest.approx(0.55)
    assert lr_factor(110, s) == pytest.approx(0.1)
    lin = TrainSettings(max_steps=110, warmup_steps=10, schedule="linear", min_lr_ratio=0.0)
    assert lr_factor(60, lin) == pytest.approx(0.5)
    factors = [lr_factor(k, s) for k in range(10, 111)]
    assert all(a >= b for a, b in zip(factors, factors[1:]))


def test_no_weight_decay_on_biases_and_norms():
    groups = make_optimizer(tiny_gpt(), TrainSettings(weight_decay=0.1)).param_groups
    assert groups[0]["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.dim() < 2 for p in groups[1]["params"])


def test_accumulation_equals_the_larger_batch(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    big, small = tiny_gpt(), tiny_gpt()
    # A large epsilon makes Adam's step linear in the gradient, so float noise in a near-zero
    # gradient cannot flip a whole step's sign and the comparison tests accumulation alone.
    train(big, CausalLM(), data, None, quiet(max_steps=2, batch_size=8, lr=1e-1, adam_eps=1.0), tmp_path / "a")
    train(small, CausalLM(), data, None, quiet(max_steps=2, batch_size=4, grad_accum=2, lr=1e-1, adam_eps=1.0),
          tmp_path / "b")
    for (name, p), q in zip(big.named_parameters(), small.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert not torch.equal(big.transformer.wte.weight, tiny_gpt().transformer.wte.weight)


def test_batch_order_covers_each_epoch_once_and_reshuffles():
    order = BatchOrder(n=20, batch_size=4, seed=3)
    epoch0 = torch.cat([order.indices(g) for g in range(5)])
    epoch1 = torch.cat([order.indices(g) for g in range(5, 10)])
    assert sorted(epoch0.tolist()) == list(range(20)) == sorted(epoch1.tolist())
    assert not torch.equal(epoch0, epoch1)
    assert torch.equal(BatchOrder(20, 4, 3).indices(7), order.indices(7))
    # each of N processes keeps its rows of the one global micro-batch; scalars go to all
    batch = {"input_ids": torch.arange(8).view(4, 2), "sample_seed": torch.tensor(5)}
    parts = [shard(CausalLM(), batch, 4, rank, 2) for rank in range(2)]
    assert torch.equal(torch.cat([p["input_ids"] for p in parts]), batch["input_ids"])
    assert all(int(p["sample_seed"]) == 5 for p in parts)
    with pytest.raises(LmlearnError, match="fewer than one batch"):
        BatchOrder(n=3, batch_size=4, seed=0)


def test_keeps_only_the_last_checkpoints_and_logs_tensorboard(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    result = train(tiny_gpt(), CausalLM(), data, data, quiet(max_steps=12, batch_size=4, save_every=3, keep_last=2,
                                                             eval_every=6, eval_batches=2, tensorboard=True), tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000009", "step-00000012"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert math.isfinite(result.eval_loss) and result.step == 12


def test_resume_refuses_changed_settings(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=3, batch_size=4), tmp_path, run_config={"lr": 1.0})
    with pytest.raises(LmlearnError, match="cannot resume .* 'lr' was 1.0, now 2.0"):
        train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=6, batch_size=4, resume=True), tmp_path,
              run_config={"lr": 2.0})


def test_dropout_randomness_is_restored_on_resume(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    model = tiny_gpt(dropout=0.3)
    whole, start = copy.deepcopy(model), torch.get_rng_state()
    train(whole, CausalLM(), data, None, quiet(max_steps=6, batch_size=4, log_every=1), tmp_path / "whole")
    torch.set_rng_state(start)
    train(copy.deepcopy(model), CausalLM(), data, None, quiet(max_steps=3, batch_size=4, save_every=3), tmp_path / "cut")
    torch.manual_seed(123)  # a different RNG state before resuming: the checkpoint must restore it
    resumed = copy.deepcopy(model)
    train(resumed, CausalLM(), data, None, quiet(max_steps=6, batch_size=4, resume=True), tmp_path / "cut")
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


class _Payload:
    """What a hostile checkpoint carries: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("file", ["state.pt", "model.pt"])
def test_resume_refuses_a_checkpoint_that_carries_a_pickle_payload(tmp_path, file):
    data = torch.randint(0, 64, (32, 16))
    train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=3, batch_size=4), tmp_path)
    latest = list_checkpoints(tmp_path / "checkpoints")[-1]
    marker = tmp_path / "payload-ran"
    state = torch.load(latest / file, weights_only=True)
    state["extra"] = _Payload(marker)
    torch.save(state, latest / file)
    with pytest.raises(LmlearnError, match=rf"{file}: refused, it holds objects other than tensors"):
        train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=6, batch_size=4, resume=True), tmp_path)
    assert not marker.exists()


def _sgd(model, settings):
    """Plain SGD at lr 1: one step moves each weight by exactly minus its gradient."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)


def _sft_rows(n=8, seed=0):
    """Chat-like rows of very different lengths, the loss on the answer tokens only."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        length = 3 + int(torch.randint(0, 13, (1,), generator=g))
        ids = torch.randint(1, 64, (length,), generator=g).tolist()
        prompt = 1 if i % 2 else length // 2
        rows.append([(ids, [-100] * prompt + ids[prompt:])])
    return rows


def _one_step_gradient(method, rows, tmp_path, monkeypatch, **kw):
    monkeypatch.setattr("lmlearn.engine.loop.make_optimizer", _sgd)
    model = tiny_gpt()
    before = copy.deepcopy(model)
    train(model, method, rows, None, quiet(max_steps=1, max_grad_norm=0.0, **kw), tmp_path)
    return [(b - a).detach() for a, b in zip(model.parameters(), before.parameters())]


def test_accumulation_weighs_every_token_alike_on_variable_length_sft_batches(tmp_path, monkeypatch):
    """Batch 2 x accumulation 4 gives the gradient of batch 8 x 1: the mean over all answer tokens,
    not the mean of four micro-batch means (which would weigh short conversations up)."""
    from lmlearn.engine.method import StepOutput
    from lmlearn.instruct.sft import SFT

    class MeanOfMeans(SFT):  # what the loop did before: every micro-batch counts once
        def step(self, models, batch):
            return StepOutput(self.loss(models.model, batch), 1)

    rows = _sft_rows()
    whole = _one_step_gradient(SFT(pad_id=0), rows, tmp_path / "whole", monkeypatch, batch_size=8)
    accumulated = _one_step_gradient(SFT(pad_id=0), rows, tmp_path / "acc", monkeypatch, batch_size=2, grad_accum=4)
    naive = _one_step_gradient(MeanOfMeans(pad_id=0), rows, tmp_path / "naive", monkeypatch, batch_size=2,
                               grad_accum=4)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=0) for a, b in zip(whole, accumulated))
    assert max(float((a - b).abs().max()) for a, b in zip(whole, naive)) > 1e-3


class _Stopping(CausalLM):
    """CLM that sends itself SIGTERM during one step, or crashes there (as a kill -9 would end it)."""

    def __init__(self, at, how):
        self.at, self.how, self.calls = at, how, 0

    def loss(self, model, batch):
        self.calls += 1
        if self.calls == self.at:
            if self.how == "crash":
                raise RuntimeError("killed")
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)
        return super().loss(model, batch)


@pytest.mark.parametrize("how", ["signal", "crash"])
def test_resume_inside_a_logging_window_logs_what_an_uninterrupted_run_logs(tmp_path, how):
    from lmlearn.engine.loop import TrainingInterrupted
    from lmlearn.engine.metrics import read_metrics

    data = torch.randint(0, 64, (64, 16))
    settings = dict(max_steps=20, batch_size=4, log_every=10, save_every=7, lr=3e-3)
    train(tiny_gpt(), CausalLM(), data, None, quiet(**settings), tmp_path / "whole")
    with pytest.raises(TrainingInterrupted if how == "signal" else RuntimeError):
        train(tiny_gpt(), _Stopping(13 if how == "signal" else 16, how), data, None, quiet(**settings),
              tmp_path / "cut")
    # the signal saved step 13 (three steps into the second window); the crash left step 14's checkpoint
    train(tiny_gpt(), CausalLM(), data, None, quiet(**settings, resume=True), tmp_path / "cut")
    whole, cut = read_metrics(tmp_path / "whole" / "metrics.jsonl"), read_metrics(tmp_path / "cut" / "metrics.jsonl")
    assert [r["step"] for r in cut] == [r["step"] for r in whole] == [10, 20]
    for a, b in zip(whole, cut):
        assert abs(a["loss"] - b["loss"]) <= 1e-6 and a["tokens_seen"] == b["tokens_seen"]


def test_report_to_names_an_unknown_or_missing_tracker():
    import importlib.util

    from lmlearn.engine.metrics import tracker_names

    assert tracker_names("", tensorboard=True) == ["tensorboard"]
    with pytest.raises(LmlearnError, match="--report-to neptune: not a tracker"):
        tracker_names("neptune")
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(LmlearnError, match="--report-to wandb needs wandb, which is not installed"):
            tracker_names("tensorboard,wandb")


class _CrashAtStep(CausalLM):
    """CLM that raises during training step `at` (evaluation batches are not counted)."""

    def __init__(self, at):
        self.at, self.steps = at, 0

    def loss(self, model, batch):
        if model.training:
            self.steps += 1
            if self.steps == self.at:
                raise RuntimeError("killed")
        return super().loss(model, batch)


def test_early_stopping_ends_with_the_best_evaluations_weights_and_resumes_to_them(tmp_path):
    from lmlearn.engine.metrics import read_metrics

    # eight random sequences are memorised within a few dozen steps; the loss on eight others then rises
    data, held_out = torch.randint(0, 64, (8, 16), generator=torch.Generator().manual_seed(1)), \
        torch.randint(0, 64, (8, 16), generator=torch.Generator().manual_seed(2))
    settings = dict(max_steps=400, batch_size=4, lr=1e-2, eval_every=4, eval_batches=2, early_stopping=3,
                    log_every=4)
    model, resumed = tiny_gpt(), tiny_gpt()
    result = train(model, CausalLM(), data, held_out, quiet(**settings), tmp_path / "whole")
    rows = [r for r in read_metrics(tmp_path / "whole" / "metrics.jsonl") if "eval_loss" in r]
    best = min(rows, key=lambda r: r["eval_loss"])
    assert result.stopped_early and result.step < 400
    assert result.best_step == best["step"] and result.step == best["step"] + 3 * 4
    assert result.eval_loss == pytest.approx(best["eval_loss"], abs=1e-6)  # the model now is the best one
    assert result.eval_loss < rows[-1]["eval_loss"]
    # a run killed after its best evaluation resumes, stops at the same step and ends with the same weights
    with pytest.raises(RuntimeError):
        train(tiny_gpt(), _CrashAtStep(best["step"] + 6), data, held_out,
              quiet(**settings, save_every=2), tmp_path / "cut")
    again = train(resumed, CausalLM(), data, held_out, quiet(**settings, save_every=2, resume=True),
                  tmp_path / "cut")
    assert again.step == result.step and again.best_step == result.best_step
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_early_stopping_needs_held_out_data_and_evaluations(tmp_path):
    data = torch.randint(0, 64, (8, 16))
    with pytest.raises(LmlearnError, match="--early-stopping 2 .* no held-out data"):
        train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=4, batch_size=4, early_stopping=2), tmp_path)
    with pytest.raises(LmlearnError, match="--eval-every 0"):
        train(tiny_gpt(), CausalLM(), data, data, quiet(max_steps=4, batch_size=4, early_stopping=2, eval_every=0),
              tmp_path)


def test_early_stopping_metric_must_be_one_the_method_logs(tmp_path):
    data = torch.randint(0, 64, (8, 16))
    with pytest.raises(LmlearnError, match="--early-stopping-metric accuracy: this method logs loss on held-out"):
        train(tiny_gpt(), CausalLM(), data, data, quiet(max_steps=4, batch_size=4, early_stopping=2, eval_every=2,
                                                         early_stopping_metric="accuracy"), tmp_path)
