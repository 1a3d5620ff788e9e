"""The shared training loop's parts: schedule, accumulation, batch order, checkpoints, TensorBoard."""

import copy
import math

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lmlearn.errors import LmlearnError
from lmlearn.objectives.clm import CausalLM
from lmlearn.train.checkpoint import list_checkpoints
from lmlearn.train.loop import BatchOrder, train
from lmlearn.train.optim import lr_factor, make_optimizer
from lmlearn.train.settings import TrainSettings


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
    ranks = [BatchOrder(20, 2, 3, rank=r, world=2).indices(0) for r in range(2)]
    assert torch.equal(torch.cat(ranks), order.indices(0))
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
