"""MASS: one fragment per row is masked and becomes the decoder's target; tiny BART and T5 learn it."""

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.objectives.mass import MASS
from lmlearn.tokenization import train_tokenizer

DATA = "builtin:corpus?docs=300"


@pytest.fixture(scope="module", params=["bart", "t5"])
def objective(request):
    # T5's 100 sentinels and 256 bytes need a larger vocabulary than BART's five specials.
    tokenizer = train_tokenizer(load_source(DATA)["text"], family=request.param, vocab_size=1000)
    return MASS(PretrainConfig(objective="mass", block_size=64), tokenizer)


def fragment_start(original, batch, row):
    """Where row's fragment starts: labels and decoder inputs match there and nothing outside changed."""
    labels, decoder = batch["labels"][row], batch["decoder_input_ids"][row]
    size = len(labels)
    found = [s for s in range(1, len(original) - size + 1)
             if torch.equal(original[s:s + size], labels) and torch.equal(original[s - 1:s - 1 + size], decoder)
             and torch.equal(batch["input_ids"][row][:s], original[:s])
             and torch.equal(batch["input_ids"][row][s + size:], original[s + size:])]
    assert found, f"row {row}: no fragment fits the labels, the decoder inputs and the unchanged rest"
    return found[0]


def test_one_fragment_per_row_with_the_mass_statistics(objective):
    tokenizer = objective.tokenizer
    blocks = objective.prepare(load_source(DATA))
    assert blocks.shape[1] == 64 and (blocks[:, -1] == tokenizer.eos_token_id).all()
    if tokenizer.bos_token_id is not None:
        assert (blocks[:, 0] == tokenizer.bos_token_id).all()
    else:
        assert tokenizer.convert_ids_to_tokens(objective.mask_id) == "<extra_id_0>"
    batch = objective.collate(blocks, torch.Generator().manual_seed(0))
    size = round(64 * 0.5)
    assert batch["labels"].shape == batch["decoder_input_ids"].shape == (len(blocks), size)
    assert torch.equal(batch["decoder_input_ids"][:, 1:], batch["labels"][:, :-1])  # the fragment shifted right
    starts = torch.tensor([fragment_start(blocks[r], batch, r) for r in range(len(blocks))])
    assert (starts >= 1).all()  # position 0 is never masked
    # 20% at the start, 20% at the end, 60% anywhere among the 64 - 32 + 0 places from 1 to 32
    anywhere = 0.6 / (64 - size)
    assert abs((starts == 1).double().mean().item() - (0.2 + anywhere)) < 0.04
    assert abs((starts == 64 - size).double().mean().item() - (0.2 + anywhere)) < 0.04
    assert abs(((starts > 1) & (starts < 64 - size)).double().mean().item() - 0.6 * 30 / 32) < 0.05
    where = starts[:, None] + torch.arange(size)
    encoder = batch["input_ids"].gather(1, where)
    masked = (encoder == objective.mask_id).double().mean().item()
    kept = (encoder == batch["labels"]).double().mean().item()
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01  # the other 10% are random tokens


@pytest.mark.parametrize("length", [5, 8, 13, 20, 33])
@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_fragment_length_is_rounded_share(objective, length, ratio):
    mass = MASS(PretrainConfig(objective="mass", mass_fragment_ratio=ratio), objective.tokenizer)
    examples = torch.arange(10, 10 + length).repeat(4, 1)
    batch = mass.collate(examples, torch.Generator().manual_seed(length))
    assert batch["labels"].shape[1] == round(ratio * length)
    assert (batch["decoder_input_ids"][:, 0] == batch["labels"][:, 0] - 1).all()  # the token before the fragment


def test_a_ratio_outside_zero_and_one_is_refused():
    with pytest.raises(LmlearnError, match="mass-fragment-ratio"):
        MASS(PretrainConfig(objective="mass", mass_fragment_ratio=1.0))


@pytest.mark.parametrize("family", ["bart", "t5"])
def test_mass_learns_and_saves_a_transformers_folder(tmp_path, family):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    summary = run(PretrainConfig(objective="mass", model=f"{family}-tiny", data="builtin:corpus?docs=600",
                                 vocab_size=1000, block_size=64, batch_size=8, max_steps=150, lr=3e-3,
                                 warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    ids = tok("It is sunny and warm in Paris today.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[0] == 1 and out.shape[1] > 1


def test_other_families_are_refused(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: bart, t5"):
        run(PretrainConfig(objective="mass", model="bert-tiny", out=str(tmp_path), progress=False))
