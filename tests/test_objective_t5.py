"""T5 span corruption (objectives.md §8): lengths, sentinels, exact reconstruction, span statistics, training."""

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.objectives.t5 import (
    SpanCorruption,
    compute_input_and_target_lengths,
    noise_counts,
    random_spans_noise_mask,
    span_corruption,
)


@pytest.fixture(scope="module")
def tokenizer():
    from lmlearn.data.sources import load_source
    from lmlearn.tokenization import train_tokenizer

    # 1000, not 800: 100 sentinels, 256 bytes and the Hangul alphabet must fit in a unigram vocabulary.
    return train_tokenizer(load_source("builtin:corpus?docs=300")["text"], family="t5", vocab_size=1000)


def objective(tokenizer, block_size=512):
    return SpanCorruption(PretrainConfig(model="t5-tiny", block_size=block_size), tokenizer)


def random_blocks(tokenizer, rows, length, seed=0):
    """Ordinary (non-special) token ids, so sentinels in the output can only come from the corruption."""
    special = len(tokenizer.all_special_ids)
    return torch.randint(special, len(tokenizer), (rows, length), generator=torch.Generator().manual_seed(seed))


def split_at(row, sentinels):
    """The pieces of `row` between sentinels (eos stripped), and the sentinels in the order met."""
    pieces, found, current = [], [], []
    for t in row[:-1]:
        if t in sentinels:
            pieces.append(current)
            found.append(t)
            current = []
        else:
            current.append(t)
    return pieces + [current], found


def test_raw_and_target_lengths_match_the_hf_script():
    assert compute_input_and_target_lengths(512, 0.15, 3.0) == (568, 114)
    assert compute_input_and_target_lengths(128, 0.15, 3.0) == (141, 29)
    assert noise_counts(568, 0.15, 3.0) == (85, 28)
    with pytest.raises(LmlearnError, match="too short"):
        compute_input_and_target_lengths(2, 0.15, 3.0)


@pytest.mark.parametrize("block_size,raw,targets", [(512, 568, 114), (128, 141, 29)])
def test_collate_gives_exact_lengths(tokenizer, block_size, raw, targets):
    obj = objective(tokenizer, block_size)
    assert (obj.raw_length, obj.target_length) == (raw, targets)
    batch = obj.collate(random_blocks(tokenizer, 8, raw), torch.Generator().manual_seed(0))
    assert batch["input_ids"].shape == (8, block_size) and batch["labels"].shape == (8, targets)
    assert (batch["input_ids"][:, -1] == tokenizer.eos_token_id).all()
    assert (batch["labels"][:, -1] == tokenizer.eos_token_id).all()
    assert batch["labels"].is_contiguous()


def test_sentinels_are_in_order_and_interleaving_rebuilds_the_original(tokenizer):
    obj = objective(tokenizer)
    tokens = random_blocks(tokenizer, 32, obj.raw_length)
    batch = obj.collate(tokens, torch.Generator().manual_seed(1))
    expected = tokenizer.convert_tokens_to_ids([f"<extra_id_{j}>" for j in range(28)])
    sentinels = set(expected)
    for original, inputs, labels in zip(tokens.tolist(), batch["input_ids"].tolist(), batch["labels"].tolist()):
        kept, in_sentinels = split_at(inputs, sentinels)
        noise, out_sentinels = split_at(labels, sentinels)
        assert in_sentinels == out_sentinels == expected
        # input: nn0 S0 nn1 S1 ... nn27 S27 </s>; target: S0 n0 S1 n1 ... S27 n27 </s>
        assert kept[-1] == [] and noise[0] == []
        assert all(kept[:-1]) and all(noise[1:])  # every span is non-empty
        rebuilt = [t for nn, n in zip(kept[:-1], noise[1:]) for t in nn + n]
        assert rebuilt == original


def test_noise_fraction_span_length_and_uniform_segmentation():
    length, rows = 568, 2000
    noise = random_spans_noise_mask(rows, length, 0.15, 3.0, torch.Generator().manual_seed(2))
    assert abs(noise.float().mean().item() - 0.15) < 0.005
    starts = noise & ~torch.cat([torch.zeros(rows, 1, dtype=torch.bool), noise[:, :-1]], dim=1)
    assert abs(noise.sum().item() / starts.sum().item() - 3.0) < 0.1
    # Spans alternate and the block ends in noise; non-noise opens it.
    assert not noise[:, 0].any() and noise[:, -1].all()
    # Cutting 85 noise tokens into 28 spans uniformly at random makes a span of length 1 with
    # probability (k-1)/(n-1) = 27/84 (T5's _random_segmentation); a biased cut would move it.
    ends = noise & ~torch.cat([noise[:, 1:], torch.zeros(rows, 1, dtype=torch.bool)], dim=1)
    singles = (starts & ends).sum().item() / starts.sum().item()
    assert abs(singles - 27 / 84) < 0.01
    # Noise is spread over the block rather than bunched at either end.
    by_region = noise[:, 20:540].float().view(rows, 4, -1).mean(dim=(0, 2))
    assert ((by_region - 0.15).abs() < 0.015).all()


def test_masks_come_from_the_generator(tokenizer):
    tokens = random_blocks(tokenizer, 4, 141)
    sentinels = torch.arange(100)

    def corrupt(seed):
        return span_corruption(tokens, 0.15, 3.0, sentinels, 1, torch.Generator().manual_seed(seed))[0]

    assert torch.equal(corrupt(3), corrupt(3))
    assert not torch.equal(corrupt(3), corrupt(4))


def test_a_tokenizer_without_enough_sentinels_is_refused(tokenizer):
    with pytest.raises(LmlearnError, match="sentinel"):
        objective(tokenizer, block_size=2048)  # needs 114 spans, the tokenizer has 100 sentinels


def test_t5_learns_and_saves_a_seq2seq_folder(tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    summary = run(PretrainConfig(objective="t5", model="t5-tiny", data="builtin:corpus?docs=600", vocab_size=1000,
                                 block_size=64, batch_size=8, max_steps=150, lr=3e-3, warmup_steps=10, eval_every=0,
                                 eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.5
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    ids = tok("Minjun lives in <extra_id_0>.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[0] == 1 and out.shape[1] > 1


def test_wrong_family_is_refused(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: t5"):
        run(PretrainConfig(objective="t5", model="bart-tiny", out=str(tmp_path), progress=False))
