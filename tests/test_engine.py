"""The engine's contract with methods: named metrics, frozen slots, online batches, the fp16 policy, MFU."""

import copy
import math

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.engine.loop import train
from lmlearn.engine.method import StepOutput
from lmlearn.engine.metrics import read_metrics
from lmlearn.errors import LmlearnError
from lmlearn.objectives.clm import CausalLM
from test_loop import quiet, tiny_gpt

DATA = "builtin:corpus?docs=200"


@pytest.mark.parametrize("objective,preset,parts", [
    ("electra", "electra-tiny",
     ("generator_loss", "discriminator_loss", "discriminator_accuracy", "replaced_fraction")),
    ("span", "bert-tiny", ("mlm_loss", "sbo_loss")),
])
def test_metrics_carry_each_methods_named_components(objective, preset, parts, tmp_path):
    run(PretrainConfig(objective=objective, model=preset, data=DATA, vocab_size=1500, block_size=32, batch_size=4,
                       max_steps=4, log_every=1, eval_every=2, eval_batches=2, out=str(tmp_path), progress=False))
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    card = (tmp_path / "model" / "README.md").read_text()  # the model card beside the weights
    assert f"lmlearn pretrain`: {objective} from `{preset}`" in card and "mlm_probability" in card
    for row in rows:
        assert set(parts) <= set(row) and all(math.isfinite(row[p]) for p in parts)
    evals = [r for r in rows if "eval_loss" in r]
    assert evals and all(f"eval_{p}" in r for r in evals for p in parts)
    for row in rows:  # one step a line, equal weights: the total is the sum of its parts
        if objective == "electra":
            assert row["loss"] == pytest.approx(row["generator_loss"] + 50 * row["discriminator_loss"], rel=1e-5)
            assert 0 <= row["discriminator_accuracy"] <= 1
        else:
            assert row["loss"] == pytest.approx(row["mlm_loss"] + row["sbo_loss"], rel=1e-5)


def test_mfu_is_model_flops_over_the_given_peak(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    train(tiny_gpt(), CausalLM(), data, None, quiet(max_steps=3, batch_size=4, log_every=1, peak_flops=1e9), tmp_path)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    model = tiny_gpt()
    embedding = model.get_input_embeddings().weight.numel()
    per_token = 6 * (sum(p.numel() for p in model.parameters()) - embedding) + 12 * 1 * 16 * 16
    for row in rows:
        assert row["model_flops_per_sec"] == pytest.approx(per_token * row["tokens_per_sec"], rel=1e-9)
        assert row["mfu"] == pytest.approx(row["model_flops_per_sec"] / 1e9, rel=1e-9)


class _Distil(CausalLM):
    """KL from a frozen teacher, to show a frozen slot reaching the step."""

    def step(self, models, batch):
        teacher = models["teacher"]
        assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
        with torch.no_grad():
            target = torch.log_softmax(teacher(input_ids=batch["input_ids"]).logits, -1)
        logits = torch.log_softmax(models.model(input_ids=batch["input_ids"]).logits, -1)
        kl = torch.nn.functional.kl_div(logits.flatten(0, 1), target.flatten(0, 1), log_target=True,
                                        reduction="batchmean")
        return StepOutput(kl, batch["input_ids"].numel(), {"kl": kl.detach()})


def test_a_frozen_teacher_is_placed_in_eval_mode_untouched_and_not_saved(tmp_path):
    from lmlearn.engine.checkpoint import list_checkpoints, load_checkpoint

    data = torch.randint(0, 64, (32, 16))
    teacher = tiny_gpt(dropout=0.3)
    torch.manual_seed(5)
    for p in teacher.parameters():
        p.data.add_(torch.randn_like(p) * 0.5)  # a teacher unlike the student's starting point
    before = copy.deepcopy(teacher)
    student = tiny_gpt()
    train(student, _Distil(), data, None, quiet(max_steps=20, batch_size=4, log_every=5, lr=1e-2, save_every=10),
          tmp_path, frozen={"teacher": teacher})
    assert all(torch.equal(a, b) for a, b in zip(teacher.parameters(), before.parameters()))
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows[-1]["kl"] < rows[0]["kl"] and rows[-1]["loss"] == pytest.approx(rows[-1]["kl"])
    weights, _ = load_checkpoint(list_checkpoints(tmp_path / "checkpoints")[-1])
    assert set(weights) == set(student.state_dict())


class _Online:
    """Batches made during training from the current model (a stand-in for rollouts), with state."""

    online = True
    head = "causal-lm"

    def __init__(self):
        self.produced = 0

    def produce(self, models, g, generator):
        self.produced += 1
        assert models.model.training
        return {"input_ids": torch.randint(0, 64, (4, 12), generator=generator),
                "labels": torch.randint(0, 64, (4, 12), generator=generator)}

    def loss(self, model, batch):
        return model(**batch).loss

    def state_dict(self):
        return {"produced": self.produced}

    def load_state_dict(self, state):
        self.produced = state["produced"]


def test_online_batches_train_and_resume_exactly_with_the_methods_state(tmp_path):
    whole = _Online()
    train(tiny_gpt(), whole, None, None, quiet(max_steps=8, batch_size=4, log_every=1), tmp_path / "a")
    cut = _Online()
    train(tiny_gpt(), cut, None, None, quiet(max_steps=5, batch_size=4, log_every=1, save_every=5), tmp_path / "b")
    resumed = _Online()
    train(tiny_gpt(), resumed, None, None, quiet(max_steps=8, batch_size=4, log_every=1, resume=True), tmp_path / "b")
    assert whole.produced == 8 and resumed.produced == 8  # 5 before the checkpoint, restored, then 3
    a, b = read_metrics(tmp_path / "a" / "metrics.jsonl"), read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], abs=1e-6)


class _Overflowing(CausalLM):
    """A loss that overflows at the chosen micro-batches, as fp16 does now and then."""

    def __init__(self, bad):
        self.bad, self.calls = bad, 0

    def loss(self, model, batch):
        self.calls += 1
        loss = super().loss(model, batch)
        return loss * float("inf") if self.calls in self.bad else loss


def test_fp16_skips_an_overflowing_step_and_stops_only_when_it_persists(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    result = train(tiny_gpt(), _Overflowing({3}), data, None,
                   quiet(max_steps=6, batch_size=4, log_every=1, precision="fp16"), tmp_path / "once")
    assert result.step == 6 and result.skipped_steps == 1
    rows = read_metrics(tmp_path / "once" / "metrics.jsonl")
    assert all(math.isfinite(r["loss"]) for r in rows if r["step"] != 3) and rows[-1]["skipped_steps"] == 1
    with pytest.raises(LmlearnError, match="fp16: 3 steps in a row had a non-finite loss"):
        train(tiny_gpt(), _Overflowing(set(range(2, 100))), data, None,
              quiet(max_steps=10, batch_size=4, precision="fp16", max_bad_steps=3), tmp_path / "always")
    with pytest.raises(LmlearnError, match="loss became inf"):  # fp32 stops at the first
        train(tiny_gpt(), _Overflowing({3}), data, None, quiet(max_steps=6, batch_size=4), tmp_path / "fp32")


def test_gradient_checkpointing_gives_the_same_losses(tmp_path):
    data = torch.randint(0, 64, (32, 16))
    for name, flag in (("plain", False), ("ckpt", True)):
        train(tiny_gpt(), CausalLM(), data, None,
              quiet(max_steps=4, batch_size=4, log_every=1, gradient_checkpointing=flag), tmp_path / name)
    a, b = (read_metrics(tmp_path / n / "metrics.jsonl") for n in ("plain", "ckpt"))
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], abs=1e-5)
