"""BART denoising: each noise keeps its defining property on a large batch, and a tiny BART learns to undo them."""

import itertools
import math
import random

import numpy as np
import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.objectives.denoise import BartDenoising, poisson_pmf
from lmlearn.tokenization import train_tokenizer

DATA = "builtin:corpus?docs=300"
OFF = dict(mask_ratio=0.0, random_ratio=0.0, insert_ratio=0.0, rotate_ratio=0.0, permute_sentence_ratio=0.0)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(load_source(DATA)["text"], family="bart", vocab_size=800)


@pytest.fixture(scope="module")
def examples(tokenizer):
    blocks = BartDenoising(PretrainConfig(objective="denoise", block_size=64), tokenizer).prepare(load_source(DATA))
    return [blocks[i] for i in range(len(blocks))]


def noise(tokenizer, examples, seed=0, **options):
    """(noised, original) token lists per example and the batch, with every noise off unless given."""
    cfg = PretrainConfig(objective="denoise", block_size=64, **{**OFF, **options})
    batch = BartDenoising(cfg, tokenizer).collate(examples, torch.Generator().manual_seed(seed))
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
    return rows, [ids.tolist() for ids, _ in examples], batch


@pytest.fixture(scope="module")
def unique(tokenizer):
    """Examples of 8-24 words of 1-3 tokens in which no token repeats, so a noised row lines up with
    its original unambiguously; every sixth word starts a sentence."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    ordinary = [i for i in range(len(pieces)) if i not in tokenizer.all_special_ids]
    firsts = [i for i in ordinary if pieces[i].startswith("Ġ")]
    rest = [i for i in ordinary if not pieces[i].startswith("Ġ")]
    rng, examples = random.Random(0), []
    for _ in range(600):
        n = rng.randint(8, 24)
        firsts_here, rest_here = iter(rng.sample(firsts, n)), iter(rng.sample(rest, 2 * n))
        ids, starts = [tokenizer.bos_token_id], [False]
        for w in range(n):
            word = [next(firsts_here)] + [next(rest_here) for _ in range(rng.randint(0, 2))]
            ids += word
            starts += [w % 6 == 0] + [False] * (len(word) - 1)
        examples.append((torch.tensor(ids + [tokenizer.eos_token_id]), torch.tensor(starts + [False])))
    return examples


def word_of(tokenizer, example):
    """The word index of each interior token (0 for <s>): words start at a space token or a sentence start."""
    ids, starts = example
    pieces = tokenizer.convert_ids_to_tokens(ids.tolist())
    begins = [bool(s) or p.startswith("Ġ") for p, s in zip(pieces, starts.tolist())]
    begins[0] = begins[-1] = False
    return list(itertools.accumulate(begins))


def budget(tokenizer, example, ratio=0.3):
    """ceil(ratio * #words), the number of words the masking must noise."""
    return math.ceil(round(word_of(tokenizer, example)[-1] * ratio, 6))


def dropped(row, original, mask):
    """Positions of the original that the row no longer holds; the rest must keep their order."""
    kept = [t for t in row if t != mask]
    assert kept == [t for t in original if t in set(kept)]
    return [p for p, t in enumerate(original) if t not in set(kept)]


def whole_words(positions, words):
    """The words the positions cover, checking that they cover each of them completely."""
    hit = {words[p] for p in positions}
    assert set(positions) == {p for p, w in enumerate(words[:-1]) if w in hit and p > 0}
    return hit


def test_examples_are_whole_sentences(tokenizer, examples):
    assert len(examples) > 500
    for ids, starts in examples:
        assert len(ids) <= 64 and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert starts[1] and not starts[0] and not starts[-1]
        before = [tokenizer.decode(ids[p - 1]) for p in torch.nonzero(starts).flatten().tolist() if p > 1]
        assert all(text[-1] in ".!?" for text in before)


def test_default_noise_keeps_the_frame_and_targets_the_original(tokenizer, examples):
    defaults = {k: getattr(PretrainConfig(), k) for k in OFF}
    rows, originals, batch = noise(tokenizer, examples, **defaults)
    assert [row[row != -100].tolist() for row in batch["labels"]] == originals
    assert all(r[0] == tokenizer.bos_token_id and r[-1] == tokenizer.eos_token_id for r in rows)
    assert all(tokenizer.pad_token_id not in r for r in rows)
    assert sum(r != o for r, o in zip(rows, originals)) > 0.95 * len(rows)


def test_infilling_noises_the_budget_with_one_mask_per_span(tokenizer, unique):
    rows, originals, _ = noise(tokenizer, unique, mask_ratio=0.3, replace_length=1)
    mask, masks, expected = tokenizer.mask_token_id, 0, 0.0
    rng = np.random.default_rng(0)
    for example, row, original in zip(unique, rows, originals):
        gone = dropped(row, original, mask)
        assert len(whole_words(gone, word_of(tokenizer, example))) == budget(tokenizer, example)
        for p in gone:  # each run of dropped words left a <mask> where it was
            if p - 1 not in gone:
                assert row[row.index(original[p - 1]) + 1] == mask
        masks += row.count(mask)
        # Spans: Poisson(3) word counts drawn until they reach the budget; length 0 still inserts a <mask>.
        m = budget(tokenizer, example)
        expected += ((rng.poisson(3.0, size=(400, m + 1)).cumsum(1) < m).sum(1) + 1).mean() if m else 0
    assert abs(masks / expected - 1) < 0.03


def test_deletion_drops_the_budget_of_whole_words(tokenizer, unique):
    rows, originals, _ = noise(tokenizer, unique, mask_ratio=0.3, replace_length=0, mask_length="word")
    for example, row, original in zip(unique, rows, originals):
        assert tokenizer.mask_token_id not in row
        gone = dropped(row, original, tokenizer.mask_token_id)
        assert len(whole_words(gone, word_of(tokenizer, example))) == budget(tokenizer, example)


def test_token_masking_keeps_the_length_and_the_ratio(tokenizer, unique):
    # Token masking is whole-word masking with a <mask> per token; Poisson spans would also insert
    # a <mask> for each length-0 span (as in fairseq), so single words keep the length exact.
    rows, originals, _ = noise(tokenizer, unique, mask_ratio=0.3, replace_length=-1, mask_length="word")
    masked = interior = wanted = words = 0
    for example, row, original in zip(unique, rows, originals):
        assert len(row) == len(original)
        changed = [p for p, (r, o) in enumerate(zip(row, original)) if r != o]
        assert all(row[p] == tokenizer.mask_token_id for p in changed)
        assert len(whole_words(changed, word_of(tokenizer, example))) == budget(tokenizer, example)
        masked, interior = masked + len(changed), interior + len(original) - 2
        wanted, words = wanted + budget(tokenizer, example), words + word_of(tokenizer, example)[-1]
    assert abs(masked / interior - wanted / words) < 0.02  # the token share is the word share


def test_random_replacements_take_their_share_of_the_words(tokenizer, unique):
    rows, originals, _ = noise(tokenizer, unique, mask_ratio=0.3, replace_length=-1, mask_length="word",
                               random_ratio=0.4)
    random = total = 0
    for example, row, original in zip(unique, rows, originals):
        words = word_of(tokenizer, example)
        # (a random token can equal the one it replaces, so a noised word is one with any change)
        for w in {words[p] for p, (r, o) in enumerate(zip(row, original)) if r != o}:
            tokens = [row[p] for p in range(1, len(row) - 1) if words[p] == w]
            assert tokens.count(tokenizer.mask_token_id) in (0, len(tokens))  # decided per span
            random, total = random + (tokenizer.mask_token_id not in tokens), total + 1
    assert abs(random / total - 0.4) < 0.04


def test_span_lengths_are_poisson():
    draws = torch.multinomial(poisson_pmf(3.0), 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert abs((draws == 0).double().mean().item() - math.exp(-3)) < 0.003
    assert abs(draws.double().mean().item() - 3.0) < 0.02


def test_insertion_adds_masks_inside_the_frame(tokenizer, examples):
    rows, originals, _ = noise(tokenizer, examples, insert_ratio=0.1)
    mask = tokenizer.mask_token_id
    for row, original in zip(rows, originals):
        assert row.count(mask) == math.ceil(len(original) * 0.1) == len(row) - len(original)
        assert [t for t in row if t != mask] == original and row[0] != mask and row[-1] != mask


def test_rotation_is_a_cyclic_shift_of_the_interior(tokenizer, examples):
    rows, originals, _ = noise(tokenizer, examples, rotate_ratio=1.0)
    shifted = 0
    for row, original in zip(rows, originals):
        inner = original[1:-1]
        assert row[0] == original[0] and row[-1] == original[-1]
        shifts = [k for k in range(len(inner)) if inner[k:] + inner[:k] == row[1:-1]]
        assert shifts
        shifted += 0 not in shifts
    assert shifted > 0.9 * len(rows)


def _segments(row, sentences):
    """Whether `row` is a concatenation of exactly the given sentences, in some order."""
    if not sentences:
        return not row
    return any(row[:len(s)] == s and _segments(row[len(s):], sentences[:i] + sentences[i + 1:])
               for i, s in enumerate(sentences))


def test_permutation_preserves_the_sentences(tokenizer, examples):
    rows, originals, _ = noise(tokenizer, examples, permute_sentence_ratio=1.0)
    changed, expected = 0, 0.0
    for (ids, starts), row, original in zip(examples, rows, originals):
        cuts = torch.nonzero(starts).flatten().tolist() + [len(original) - 1]
        sentences = [original[a:b] for a, b in zip(cuts, cuts[1:])]
        assert row[0] == original[0] and row[-1] == original[-1]
        assert _segments(row[1:-1], sentences)
        changed += row != original
        expected += 1 - 1 / math.factorial(len(sentences))
    assert changed > expected - 0.05 * len(rows)


def test_all_noises_together_are_seeded(tokenizer, examples):
    options = dict(mask_ratio=0.3, random_ratio=0.1, insert_ratio=0.1, rotate_ratio=0.5, permute_sentence_ratio=1.0)
    rows, originals, batch = noise(tokenizer, examples[:64], seed=1, **options)
    again = noise(tokenizer, examples[:64], seed=1, **options)[2]
    other = noise(tokenizer, examples[:64], seed=2, **options)[2]
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    assert not torch.equal(batch["input_ids"], other["input_ids"])
    assert all(r[0] == tokenizer.bos_token_id and r[-1] == tokenizer.eos_token_id for r in rows)


@pytest.mark.parametrize("options", [dict(replace_length=2), dict(mask_length="subword", replace_length=-1),
                                     dict(mask_ratio=1.5), dict(poisson_lambda=0.0)])
def test_bad_options_are_refused(options):
    with pytest.raises(LmlearnError):
        BartDenoising(PretrainConfig(objective="denoise", **options))


def test_bart_learns_to_denoise_and_saves_a_transformers_folder(tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    summary = run(PretrainConfig(objective="denoise", model="bart-tiny", data="builtin:corpus?docs=600",
                                 vocab_size=1000, block_size=64, batch_size=8, max_steps=150, lr=3e-3,
                                 warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    ids = tok("It is sunny and <mask> in Paris today.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert out.shape[0] == 1 and out.shape[1] > 1


def test_other_families_are_refused(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: bart"):
        run(PretrainConfig(objective="denoise", model="gpt2-tiny", out=str(tmp_path), progress=False))
