"""Model presets and the factory: every preset builds, runs, has its promised size and loads back."""

import math

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from lmlearn.errors import LmlearnError
from lmlearn.models.factory import (
    FAMILIES_BY_HEAD,
    HEADS,
    build_model,
    count_parameters,
    describe_presets,
    families_for,
    family_of,
    lm_head_of,
    load_model,
    load_tokenizer,
    non_embedding_parameters,
)
from lmlearn.models.presets import (
    FAMILIES,
    LADDER,
    LADDER_FAMILIES,
    build_config,
    parse_preset,
    preset_names,
)

VOCAB = 8000
SPECIAL = {
    "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
    "mask_token": "[MASK]", "bos_token": "<s>", "eos_token": "</s>",
}
TINY = [name for name in preset_names() if name.endswith("-tiny")]
CAUSAL_TINY = [f"{family}-tiny" for family in FAMILIES_BY_HEAD["causal-lm"]]
NO_SDPA = ("deberta-v2", "xlnet")  # transformers has only eager attention for these


def make_tokenizer(special: dict[str, str] = SPECIAL) -> PreTrainedTokenizerFast:
    """A word-level stand-in with VOCAB entries, the special tokens first."""
    words = list(special.values()) + [f"w{i}" for i in range(VOCAB - len(special))]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=special["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return make_tokenizer()


def xlnet_left_to_right(batch: int, length: int) -> dict:
    """Inputs that make XLNet predict each token from the ones before it.

    Its content stream always sees its own token, so predictions come from the query stream
    (target_mapping = I) with a left-to-right factorization order: i may not attend to j >= i.
    The first token is context every position sees: a fully masked row would softmax uniformly
    over all positions, the future included.
    """
    perm_mask = torch.triu(torch.ones(length, length), diagonal=0)
    perm_mask[:, 0] = 0
    return {
        "perm_mask": perm_mask.expand(batch, length, length),
        "target_mapping": torch.eye(length).expand(batch, length, length),
    }


def lm_batch(name: str, ids: torch.Tensor) -> dict:
    """Inputs and labels for the preset's language-modelling head."""
    family, _ = parse_preset(name)
    batch = {"input_ids": ids, "labels": ids}
    if lm_head_of(family) == "seq2seq-lm":
        batch["labels"] = ids[:, : ids.shape[1] // 4].clone()
    if family == "xlnet":
        batch |= xlnet_left_to_right(*ids.shape)
        batch["labels"] = ids.clone()
        batch["labels"][:, 0] = -100  # seen by every position, so not a target
    return batch


def random_ids(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(len(SPECIAL), VOCAB, (batch, length), generator=generator)


@pytest.mark.parametrize("name", TINY)
def test_tiny_preset_runs_a_512_block_with_loss_near_ln_vocab(name, tokenizer):
    family, _ = parse_preset(name)
    model = load_model(name, lm_head_of(family), tokenizer, seed=0).eval()
    with torch.no_grad():
        out = model(**lm_batch(name, random_ids(2, 512)))
    assert out.logits.shape[-1] == VOCAB
    assert out.loss.item() == pytest.approx(math.log(VOCAB), rel=0.1)
    assert model.dtype == torch.float32
    assert model.config._attn_implementation == ("eager" if family in NO_SDPA else "sdpa")


@pytest.mark.parametrize("name", CAUSAL_TINY)
def test_causal_preset_does_not_look_ahead(name, tokenizer):
    model = load_model(name, "causal-lm", tokenizer, seed=0).eval()
    ids = random_ids(1, 24)
    changed = ids.clone()
    t = 10
    changed[0, t] = (ids[0, t] + 1) % VOCAB
    with torch.no_grad():
        before = model(**lm_batch(name, ids)).logits
        after = model(**lm_batch(name, changed)).logits
    torch.testing.assert_close(after[:, :t], before[:, :t])
    assert not torch.allclose(after[:, t + 1 :], before[:, t + 1 :])


def test_preset_sizes_at_vocab_8000():
    rows = {row["name"]: row for row in describe_presets()}
    assert list(rows) == preset_names()
    for name, row in rows.items():
        if row["size"] == "tiny":
            assert row["hidden"] <= 64 and row["layers"] == 2, name
            assert row["parameters"] < 1_000_000, name
        elif row["size"] == "small":
            assert 5_000_000 <= row["parameters"] <= 30_000_000, name
    assert 8_000_000 <= rows["gpt2-small"]["parameters"] <= 12_000_000


def test_described_count_matches_the_built_model(tokenizer):
    rows = {row["name"]: row for row in describe_presets()}
    for name in TINY:
        model = load_model(name, lm_head_of(parse_preset(name)[0]), tokenizer)
        assert count_parameters(model) == (rows[name]["parameters"],) * 2, name


def test_every_preset_has_512_positions(tokenizer):
    for name in preset_names():
        config = build_config(name, tokenizer)
        assert config.vocab_size == VOCAB
        if parse_preset(name)[0] not in ("xlnet", "t5"):  # relative positions only
            assert config.max_position_embeddings >= 512, name
    assert build_config("gpt2-small", tokenizer).n_positions >= 512


def test_albert_shares_layers_and_factorizes_embeddings(tokenizer):
    config = build_config("albert-tiny", tokenizer)
    assert config.embedding_size < config.hidden_size
    counts = []
    for layers in (2, 6):
        config.num_hidden_layers = layers
        counts.append(count_parameters(build_model(config, "masked-lm"))[1])
    assert counts[0] == counts[1]


def test_electra_embeddings_are_narrower_than_hidden(tokenizer):
    config = build_config("electra-small", tokenizer)
    assert config.embedding_size < config.hidden_size


@pytest.mark.parametrize("name", TINY)
def test_save_and_load_round_trip(name, tokenizer, tmp_path):
    head = lm_head_of(parse_preset(name)[0])
    model = load_model(name, head, tokenizer, seed=1).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), head)
    batch = lm_batch(name, random_ids(2, 16))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    assert len(load_tokenizer(str(tmp_path))) == VOCAB


def test_seed_makes_the_init_reproducible(tokenizer):
    def weights(seed):
        return torch.cat([p.flatten() for p in load_model("gpt2-tiny", "causal-lm", tokenizer, seed).parameters()])

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


@pytest.mark.parametrize("head", HEADS)
def test_every_family_builds_with_each_head_it_allows(head, tokenizer):
    for family in families_for(head):
        model = load_model(f"{family}-tiny", head, tokenizer)
        assert family_of(model.config) == family


def test_heads_and_families():
    assert families_for("causal-lm") == ["gpt2", "llama", "gpt-neox", "xlnet"]
    assert families_for("seq2seq-lm") == ["bart", "t5"]
    assert sorted(families_for("base")) == sorted(FAMILIES)
    assert all(lm_head_of(family) in HEADS for family in FAMILIES)


def test_parse_preset():
    assert parse_preset("gpt-neox-small") == ("gpt-neox", "small")
    assert parse_preset("deberta-v2-tiny") == ("deberta-v2", "tiny")
    for name in ("gpt2", "gpt2-huge", "gpt3-tiny", "./models/gpt2-tiny"):
        assert parse_preset(name) is None
    assert parse_preset("gpt2-0.1m") == ("gpt2", "0.1m") and parse_preset("llama-30m") == ("llama", "30m")
    assert parse_preset("t5-1m") is None  # the ladder is for gpt2, llama and bert
    assert len(preset_names()) == 2 * len(FAMILIES) + len(LADDER_FAMILIES) * len(LADDER) == 48


def test_size_ladder_spans_100x_in_non_embedding_parameters():
    """Each ladder family: eight sizes, N growing at every rung, over 100x from first to last, every name
    within 2x of its N (0.1m is about 100k), and FLOPs per token growing with N."""
    rows = {row["name"]: row for row in describe_presets()}
    for family in LADDER_FAMILIES:
        ladder = [rows[f"{family}-{size}"] for size in LADDER]
        ns = [row["non_embedding_parameters"] for row in ladder]
        assert len(ns) >= 8 and ns == sorted(ns) and len(set(ns)) == len(ns), family
        assert ns[-1] / ns[0] >= 100, family
        for size, n in zip(LADDER, ns):
            nominal = float(size[:-1]) * 1e6
            assert nominal / 2 <= n <= nominal * 2, (family, size, n)
        flops = [row["train_flops_per_token"] for row in ladder]
        assert flops == sorted(flops) and all(f >= 6 * n for f, n in zip(flops, ns)), family


def test_non_embedding_parameters_leave_out_the_tables(tokenizer):
    model = load_model("gpt2-tiny", lm_head_of("gpt2"), tokenizer)
    h = model.config.n_embd
    embeddings = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    assert non_embedding_parameters(model) == count_parameters(model)[1] - embeddings
    # 12 h^2 per layer for the matrices, plus biases and layer norms
    assert 12 * h * h * model.config.n_layer <= non_embedding_parameters(model) < 13 * h * h * model.config.n_layer


def test_tokenizer_without_pad_or_bos(tokenizer):
    gpt2_style = make_tokenizer({"unk_token": "<unk>", "eos_token": "<|endoftext|>"})
    config = build_config("gpt2-tiny", gpt2_style)
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (None, None, 1)
    with pytest.raises(LmlearnError, match="'t5-tiny' needs a tokenizer with a pad token"):
        build_config("t5-tiny", gpt2_style)
    config = build_config("t5-tiny", tokenizer)
    assert config.decoder_start_token_id == tokenizer.pad_token_id
    assert build_config("bart-tiny", tokenizer).decoder_start_token_id == tokenizer.eos_token_id


def test_unknown_preset_suggests_close_names(tokenizer):
    with pytest.raises(LmlearnError, match=r"gpt2-tiny.*lmlearn models"):
        build_config("gpt2-tine", tokenizer)
    with pytest.raises(LmlearnError, match=r"'gpt2-tine'.*gpt2-tiny"):
        load_model("gpt2-tine", "causal-lm", tokenizer)


def test_wrong_head_names_the_families_that_can(tokenizer):
    message = "preset 'bert-tiny' cannot be used for causal-lm; families that can: gpt2, llama, gpt-neox, xlnet"
    with pytest.raises(LmlearnError) as err:
        load_model("bert-tiny", "causal-lm", tokenizer)
    assert str(err.value) == message
    with pytest.raises(LmlearnError, match="unknown model head 'clm'"):
        load_model("gpt2-tiny", "clm", tokenizer)


def test_preset_needs_a_tokenizer():
    with pytest.raises(LmlearnError, match="needs a tokenizer"):
        load_model("gpt2-tiny", "causal-lm")


def test_missing_folder_and_folder_without_config(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(LmlearnError, match=str(missing)):
        load_model(str(missing), "causal-lm")
    with pytest.raises(LmlearnError, match=rf"{tmp_path}.*config\.json"):
        load_model(str(tmp_path), "causal-lm")
    assert load_tokenizer(str(tmp_path)) is None
    assert load_tokenizer("gpt2-tiny") is None


def test_saved_model_keeps_its_head_rules(tokenizer, tmp_path):
    load_model("bert-tiny", "masked-lm", tokenizer).save_pretrained(tmp_path)
    with pytest.raises(LmlearnError, match=r"\(bert\) cannot be used for causal-lm"):
        load_model(str(tmp_path), "causal-lm")


def test_saved_model_refuses_a_larger_tokenizer(tokenizer, tmp_path):
    load_model("gpt2-tiny", "causal-lm", tokenizer).save_pretrained(tmp_path)
    bigger = make_tokenizer()
    bigger.add_tokens(["w-extra"])
    with pytest.raises(LmlearnError, match=f"tokenizer has {VOCAB + 1} tokens but model"):
        load_model(str(tmp_path), "causal-lm", bigger)


def test_a_bf16_checkpoint_loads_in_fp32(tokenizer, tmp_path):
    load_model("llama-tiny", "causal-lm", tokenizer).to(torch.bfloat16).save_pretrained(tmp_path)
    assert load_model(str(tmp_path), "causal-lm").dtype == torch.float32
