"""XLM translation LM (objectives.md §10): pair format, restarting positions, language ids, masking, mixing, training."""

import datasets
import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.objectives.tlm import TranslationLM, language_of, parse_pair

DATA = "builtin:corpus?docs=300"


@pytest.fixture(scope="module")
def corpus():
    return load_source(DATA)


@pytest.fixture(scope="module")
def tokenizers(corpus):
    from lmlearn.tokenization import train_tokenizer

    # 1000, not 800: the Hangul alphabet alone does not fit beside 800 WordPiece entries.
    return {family: train_tokenizer(corpus["text"], family=family, vocab_size=1000) for family in ("bert", "roberta")}


def objective(tokenizers, family="bert", **options):
    return TranslationLM(PretrainConfig(model=f"{family}-tiny", block_size=64, **options), tokenizers[family])


def pairs_of(examples):
    return [e for e in examples if e.boundary < len(e.ids)]


def test_pair_lines_parse_in_either_order():
    assert parse_pair("English: He lives in Seoul. / 한국어: 그는 서울에 산다.") == ("He lives in Seoul.", "그는 서울에 산다.")
    assert parse_pair("한국어: 그는 서울에 산다. / English: He lives in Seoul.") == ("He lives in Seoul.", "그는 서울에 산다.")
    assert parse_pair("He lives in Seoul.") is None
    assert (language_of("그는 서울에 산다."), language_of("He lives in Seoul.")) == (1, 0)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_pairs_use_the_family_format_with_english_first(tokenizers, corpus, family):
    tok = tokenizers[family]
    obj = objective(tokenizers, family, tlm_mix=1.0)
    examples = obj.prepare(corpus)
    assert examples and len(pairs_of(examples)) == len(examples)
    expected = {"bert": ["[CLS]", "[SEP]", "[SEP]"], "roberta": ["<s>", "</s>", "</s>", "</s>"]}[family]
    for e in examples[:50]:
        ids = e.ids.tolist()
        specials = [t for t in tok.convert_ids_to_tokens(ids) if t in tok.all_special_tokens]
        assert specials == expected
        assert language_of(tok.decode(ids[:e.boundary], skip_special_tokens=True)) == 0
        assert language_of(tok.decode(ids[e.boundary:], skip_special_tokens=True)) == 1


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_positions_restart_and_languages_flip_at_the_second_sentence(tokenizers, corpus, family):
    obj = objective(tokenizers, family, tlm_mix=1.0)
    examples = obj.prepare(corpus)[:64]
    batch = obj.collate(examples, torch.Generator().manual_seed(0))
    offset = tokenizers[family].pad_token_id + 1 if family == "roberta" else 0
    for row, e in enumerate(examples):
        n, b = len(e.ids), e.boundary
        assert batch["position_ids"][row, :n].tolist() == [offset + i for i in list(range(b)) + list(range(n - b))]
        assert batch["token_type_ids"][row, :n].tolist() == [0] * b + [1] * (n - b)
        assert batch["attention_mask"][row].sum() == n


def test_monolingual_blocks_carry_their_language(tokenizers, corpus):
    obj = objective(tokenizers, tlm_mix=0.0)
    examples = obj.prepare(corpus)
    assert not pairs_of(examples) and {e.lang for e in examples} == {0, 1}
    assert all(len(e.ids) == 64 for e in examples)
    batch = obj.collate(examples[:32], torch.Generator().manual_seed(0))
    langs = torch.tensor([e.lang for e in examples[:32]])
    assert (batch["token_type_ids"] == langs[:, None]).all()
    assert (batch["position_ids"] == torch.arange(64)).all()


def test_masks_land_in_both_halves_at_the_rate_with_80_10_10(tokenizers, corpus):
    obj = objective(tokenizers, tlm_mix=1.0)
    examples = obj.prepare(corpus)
    first, second, chosen, masked, kept = [0, 0], [0, 0], 0, 0, 0
    for seed in range(8):
        batch = obj.collate(examples, torch.Generator().manual_seed(seed))
        ids = torch.nn.utils.rnn.pad_sequence([e.ids for e in examples], batch_first=True, padding_value=0)
        labels, inputs, attention = batch["labels"], batch["input_ids"], batch["attention_mask"].bool()
        selected = labels != -100
        # Never the first token, never padding; the labels hold the original ids exactly where selected.
        assert not selected[:, 0].any() and not selected[~attention].any()
        assert torch.equal(labels[selected], ids[selected])
        sentence_2 = batch["token_type_ids"] == 1
        sentence_1 = attention & ~sentence_2
        sentence_1[:, 0] = False
        first = [first[0] + (selected & sentence_1).sum().item(), first[1] + sentence_1.sum().item()]
        second = [second[0] + (selected & sentence_2).sum().item(), second[1] + sentence_2.sum().item()]
        chosen += selected.sum().item()
        masked += (selected & (inputs == tokenizers["bert"].mask_token_id)).sum().item()
        kept += (selected & (inputs == ids)).sum().item()
    assert first[1] > 5000 and second[1] > 5000
    assert abs(first[0] / first[1] - 0.15) < 0.015
    assert abs(second[0] / second[1] - 0.15) < 0.015
    assert abs(masked / chosen - 0.8) < 0.03
    # 10% kept, plus the few random replacements that drew the original token again
    assert abs(kept / chosen - 0.1) < 0.03
    assert abs((chosen - masked - kept) / chosen - 0.1) < 0.03


def test_masks_come_from_the_generator(tokenizers, corpus):
    obj = objective(tokenizers)
    examples = obj.prepare(corpus)[:16]
    a, b, c = (obj.collate(examples, torch.Generator().manual_seed(s))["labels"] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("mix", [0.25, 0.5, 0.9])
def test_tlm_mix_sets_the_share_of_pairs(tokenizers, corpus, mix):
    examples = objective(tokenizers, tlm_mix=mix).prepare(corpus)
    assert abs(len(pairs_of(examples)) / len(examples) - mix) < 0.01


def test_parallel_columns_are_used_when_present(tokenizers):
    tok = tokenizers["bert"]
    ds = datasets.Dataset.from_dict({"source": ["He lives in Seoul.", "She has a cat."],
                                     "target": ["그는 서울에 산다.", "그녀는 고양이가 있다."]})
    examples = objective(tokenizers, tlm_mix=1.0, text_column="source").prepare(ds)
    got = sorted((tok.decode(e.ids[1:e.boundary - 1]), tok.decode(e.ids[e.boundary:-1])) for e in examples)
    assert got == [("He lives in Seoul.", "그는 서울에 산다."), ("She has a cat.", "그녀는 고양이가 있다.")]


def test_data_without_pairs_is_refused(tokenizers):
    ds = datasets.Dataset.from_dict({"text": ["He lives in Seoul. He has a cat."] * 20})
    with pytest.raises(LmlearnError, match="no translation pairs"):
        objective(tokenizers).prepare(ds)


def test_roberta_gets_two_language_rows_and_runs(tokenizers, corpus):
    obj = objective(tokenizers, "roberta")
    model = obj.build_model("roberta-tiny", seed=0)
    assert model.config.type_vocab_size == 2
    loss = obj.loss(model, obj.collate(obj.prepare(corpus)[:8], torch.Generator().manual_seed(0)))
    assert torch.isfinite(loss)


def test_a_saved_roberta_gets_a_second_language_row_copied_from_its_first(tokenizers, tmp_path):
    from lmlearn.models.factory import build_model
    from lmlearn.models.presets import build_config

    saved = build_model(build_config("roberta-tiny", tokenizers["roberta"]), "masked-lm", seed=0)
    assert saved.config.type_vocab_size == 1
    saved.save_pretrained(tmp_path)
    obj = TranslationLM(PretrainConfig(model=str(tmp_path), block_size=64), tokenizers["roberta"])
    model = obj.build_model(str(tmp_path), seed=0)
    rows = model.roberta.embeddings.token_type_embeddings.weight
    assert model.config.type_vocab_size == 2 and torch.equal(rows[0], rows[1])
    assert torch.equal(rows[0], saved.roberta.embeddings.token_type_embeddings.weight[0])


def test_tlm_learns_and_saves_a_masked_lm_folder(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    summary = run(PretrainConfig(objective="tlm", model="bert-tiny", data="builtin:corpus?docs=600", vocab_size=1000,
                                 block_size=64, batch_size=8, max_steps=150, lr=3e-3, warmup_steps=10, eval_every=0,
                                 eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.5
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert model.config.type_vocab_size == 2
    ids = tok("He lives in [MASK].", "그는 서울에 산다.", return_tensors="pt")
    assert model(**ids).logits.shape == (1, ids["input_ids"].shape[1], len(tok))


def test_wrong_family_is_refused(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: bert, roberta"):
        run(PretrainConfig(objective="tlm", model="gpt2-tiny", out=str(tmp_path), progress=False))
