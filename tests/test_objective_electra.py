"""ELECTRA: masking as google-research/electra, sampled replacements, shared embeddings, no gradient
from the discriminator into the generator, and an end-to-end run that keeps only the discriminator."""

import pytest
import torch
from transformers import ElectraConfig

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.objectives.electra import Electra, corrupt, generator_config, gumbel_sample


@pytest.fixture(scope="module")
def tokenizer():
    from lmlearn.data.sources import load_source
    from lmlearn.tokenization import train_tokenizer

    # 800 cannot hold the corpus alphabet for WordPiece; 1000 can
    return train_tokenizer(load_source("builtin:corpus?docs=300")["text"], family="electra", vocab_size=1000)


@pytest.fixture(scope="module")
def objective(tokenizer):
    return Electra(PretrainConfig(objective="electra", model="electra-tiny", block_size=64), tokenizer)


@pytest.fixture(scope="module")
def model(objective):
    return objective.build_model("electra-tiny", seed=0)


def framed_batch(tok, rows=512, length=128, seed=0):
    """Random text ids as [CLS] ... [SEP] ... [SEP], with a random-length pad tail in every row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, len(tok), (rows, length), generator=g)
    ids[:, 0] = tok.cls_token_id
    ids[:, length // 2] = tok.sep_token_id
    ends = torch.randint(length // 2 + 2, length + 1, (rows,), generator=g)
    ids[torch.arange(rows), ends - 1] = tok.sep_token_id
    ids[torch.arange(length) >= ends[:, None]] = tok.pad_token_id
    return ids


def test_generator_is_a_narrower_bert_of_the_same_depth():
    base = ElectraConfig(vocab_size=1000, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                         num_attention_heads=12, intermediate_size=3072)
    g = generator_config(base, 1 / 3)
    assert (g.hidden_size, g.intermediate_size, g.num_attention_heads) == (256, 1024, 4)
    assert (g.num_hidden_layers, g.embedding_size, g.vocab_size) == (12, 768, 1000)
    assert base.hidden_size == 768  # the discriminator's config is untouched
    small = generator_config(ElectraConfig(embedding_size=128, hidden_size=256, num_attention_heads=4), 0.25)
    assert (small.hidden_size, small.intermediate_size, small.num_attention_heads) == (64, 256, 1)
    with pytest.raises(LmlearnError, match="generator-size"):
        generator_config(base, 0.0)


def test_masking_counts_and_85_15_split(objective, tokenizer):
    ids = framed_batch(tokenizer)
    batch = objective.collate(ids, torch.Generator().manual_seed(1))
    masked = batch["labels"] != -100
    non_pad = ids != tokenizer.pad_token_id
    length = ids.shape[1]
    expected = (non_pad.sum(1) * 0.15).round().clamp(min=1).clamp(max=int(0.155 * length))
    assert torch.equal(masked.sum(1), expected)
    assert masked.sum() > 5000
    special = torch.isin(ids, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]))
    assert not (masked & special).any()
    assert torch.equal(batch["labels"][masked], ids[masked])
    assert torch.equal(batch["attention_mask"], non_pad.long())
    as_mask = batch["input_ids"][masked] == tokenizer.mask_token_id
    assert abs(as_mask.float().mean().item() - 0.85) < 0.02
    # no random replacement: a masked position is [MASK] or its own token, and the rest is untouched
    assert torch.equal(batch["input_ids"][masked][~as_mask], ids[masked][~as_mask])
    assert torch.equal(batch["input_ids"][~masked], ids[~masked])
    again = objective.collate(ids, torch.Generator().manual_seed(2))
    assert not torch.equal(again["labels"], batch["labels"])


def test_labels_are_zero_where_the_sample_is_the_original(tokenizer):
    ids = framed_batch(tokenizer)
    g = torch.Generator().manual_seed(3)
    chosen = (torch.rand(ids.shape, generator=g) < 0.15) & (ids > 4)
    labels = ids.masked_fill(~chosen, -100)
    inputs = ids.masked_fill(chosen, tokenizer.mask_token_id)
    originals = ids[chosen]
    # half of the samples are the original token, the rest random
    same = torch.rand(originals.shape, generator=g) < 0.5
    sampled = torch.where(same, originals, torch.randint(5, len(tokenizer), originals.shape, generator=g))
    fake, replaced = corrupt(inputs, labels, sampled)
    assert torch.equal(fake[chosen], sampled) and torch.equal(fake[~chosen], ids[~chosen])
    assert not replaced[chosen][sampled == originals].any()
    assert replaced[chosen][sampled != originals].all()
    assert not replaced[~chosen].any()
    assert 0 < replaced.float().mean() < chosen.float().mean()


def test_model_step_labels_replacements_only(objective, model, tokenizer):
    batch = objective.collate(framed_batch(tokenizer, rows=32), torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(**batch)
    masked = batch["labels"] != -100
    original = torch.where(masked, batch["labels"], batch["input_ids"])
    assert torch.equal(out.replaced, out.fake_ids != original)
    assert not out.replaced[~masked].any()
    assert 0 < out.replaced.sum() <= masked.sum()
    expected = out.generator_loss + 50.0 * out.discriminator_loss
    assert torch.allclose(out.loss, expected)


def test_gumbel_max_samples_the_softmax_reproducibly():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5]).expand(40_000, 5)
    samples = gumbel_sample(logits, seed=7)
    freq = torch.bincount(samples, minlength=5).float() / len(samples)
    assert torch.allclose(freq, logits[0].softmax(0), atol=0.01)
    assert torch.equal(samples, gumbel_sample(logits, seed=7))
    assert not torch.equal(samples, gumbel_sample(logits, seed=8))


def test_embeddings_are_shared(model):
    gen, disc = model.generator, model.discriminator
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        assert getattr(gen.electra.embeddings, name).weight is getattr(disc.electra.embeddings, name).weight
    shared = disc.electra.embeddings.word_embeddings.weight
    assert gen.generator_lm_head.weight.data_ptr() == shared.data_ptr()
    assert gen.config.hidden_size == disc.config.hidden_size // 4
    assert gen.config.num_hidden_layers == disc.config.num_hidden_layers


def test_discriminator_loss_gives_no_gradient_to_the_generator(objective, model, tokenizer):
    batch = objective.collate(framed_batch(tokenizer, rows=16), torch.Generator().manual_seed(5))
    shared = {id(p) for p in model.discriminator.electra.embeddings.parameters()}
    own = [(n, p) for n, p in model.generator.named_parameters() if id(p) not in shared]
    assert own

    model.zero_grad(set_to_none=True)
    model(**batch).discriminator_loss.backward()
    assert all(p.grad is None or not p.grad.any() for _, p in own)
    assert model.discriminator.electra.embeddings.word_embeddings.weight.grad.any()
    assert model.discriminator.discriminator_predictions.dense.weight.grad.any()

    model.zero_grad(set_to_none=True)
    model(**batch).generator_loss.backward()  # the check above could fail: G's own loss does reach these
    assert sum(p.grad is not None and bool(p.grad.any()) for _, p in own) > len(own) // 2
    model.zero_grad(set_to_none=True)


def test_electra_learns_and_saves_only_the_discriminator(tmp_path):
    from transformers import AutoModelForPreTraining, AutoTokenizer, ElectraForPreTraining

    from lmlearn.data.sources import load_source

    summary = run(PretrainConfig(objective="electra", model="electra-tiny", data="builtin:corpus?docs=600",
                                 vocab_size=1000, block_size=64, batch_size=8, max_steps=150, lr=1e-3,
                                 warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path), progress=False))
    # about 41 at the start (ln V + 50 ln 2); a discriminator that only learned the base rate gives ~27
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 17

    disc = AutoModelForPreTraining.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert isinstance(disc, ElectraForPreTraining)
    texts = load_source("builtin:corpus?docs=600")["text"][-64:]
    enc = tok(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
    ids = enc["input_ids"]
    g = torch.Generator().manual_seed(0)
    swap = (torch.rand(ids.shape, generator=g) < 0.15) & ~torch.isin(ids, torch.tensor(tok.all_special_ids))
    fake = torch.where(swap, torch.randint(5, len(tok), ids.shape, generator=g), ids)
    with torch.no_grad():
        logits = disc(input_ids=fake, attention_mask=enc["attention_mask"]).logits
    assert logits.shape == ids.shape
    # the kept discriminator tells replaced tokens from original ones
    real = (fake == ids) & enc["attention_mask"].bool()
    assert logits[fake != ids].mean() > logits[real].mean() + 1.0


def test_wrong_family_lists_the_supported_ones(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: electra"):
        run(PretrainConfig(objective="electra", model="bert-tiny", out=str(tmp_path), progress=False))
