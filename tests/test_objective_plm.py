"""XLNet permutation LM (objectives.md §6): 1/6 of the tokens predicted in spans, a factorisation order
without leaks, the same distribution as Hugging Face's collator, and a run that learns and saves XLNet."""

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.objectives.plm import PermutationLM, plm_batch

DATA = "builtin:corpus?docs=300"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def objective():
    from lmlearn.data.sources import load_source
    from lmlearn.tokenization import train_tokenizer

    ds = load_source(DATA)
    tok = train_tokenizer(ds["text"], family="xlnet", vocab_size=1000)
    obj = PermutationLM(PretrainConfig(objective="plm", block_size=256), tok)
    return obj, obj.prepare(ds)


def _special(obj, blocks):
    return torch.isin(blocks, torch.tensor(obj.tokenizer.all_special_ids))


def _unpack(batch):
    """Back from the compact targets to a (B, L) mask of predicted positions and (B, L) labels."""
    predicted = batch["target_mapping"].sum(1) > 0
    labels = torch.full(predicted.shape, -100)
    rows, slot, position = batch["target_mapping"].nonzero(as_tuple=True)
    labels[rows, position] = batch["labels"][rows, slot]
    return predicted, labels


def _run_lengths(masked: torch.Tensor) -> torch.Tensor:
    """Lengths of the maximal runs of True in each row."""
    edges = torch.diff(torch.nn.functional.pad(masked.long(), (1, 1)), dim=1)
    starts, ends = (edges == 1).nonzero()[:, 1], (edges == -1).nonzero()[:, 1]
    return ends - starts


def test_about_one_sixth_masked_in_short_spans(objective):
    obj, blocks = objective
    batch = obj.collate(blocks, torch.Generator().manual_seed(0))
    masked, labels = _unpack(batch)
    special = _special(obj, blocks)
    assert masked.sum() > 5000
    assert abs(masked.sum() / (~special).sum() - 1 / 6) < 0.01
    assert not (masked & special).any()
    assert torch.equal(labels[masked], blocks[masked])
    assert (batch["labels"][batch["target_mapping"].sum(2) == 0] == -100).all()  # padding slots
    assert (batch["input_ids"][masked] == obj.tokenizer.mask_token_id).all()
    assert torch.equal(batch["input_ids"][~masked], blocks[~masked])
    lengths = _run_lengths(masked)
    # one span of 1..5 per window; spans in neighbouring windows touch only now and then
    assert (lengths <= 10).all() and (lengths <= 5).float().mean() > 0.95
    assert abs(lengths.float().mean() - 3) < 0.3


def test_perm_mask_follows_a_factorisation_order_without_leaks(objective):
    obj, blocks = objective
    batch = obj.collate(blocks[:8], torch.Generator().manual_seed(1))
    masked, _ = _unpack(batch)
    perm = batch["perm_mask"].bool()
    special = _special(obj, blocks[:8])
    length, half = blocks.shape[1], blocks.shape[1] // 2
    for row in range(8):
        m, p = masked[row], perm[row]
        assert p[m][:, m].diagonal().all()  # a masked token never sees itself
        assert not p[:, ~m].any()  # everyone may see every unmasked token
        assert p[~m & ~special[row]][:, m].all()  # unmasked tokens never see a masked one
        idx = m.nonzero()[:, 0]
        order = p[idx][:, idx]
        off_diagonal = ~torch.eye(len(idx), dtype=torch.bool)
        assert torch.equal((order ^ order.T)[off_diagonal], torch.ones_like(order[off_diagonal]))  # a strict order
        first, second = idx[idx < half], idx[idx >= half]
        assert p[first][:, second].all() and not p[second][:, first].any()  # the first half comes first
        # The same permutation on both halves: i sees j exactly when i + L/2 sees j + L/2.
        both = first[m[first + half]]
        assert torch.equal(p[both][:, both], p[both + half][:, both + half])
    assert perm.shape == (8, length, length) and batch["perm_mask"].dtype == torch.float32


def test_same_distribution_as_the_transformers_collator(objective):
    from transformers import DataCollatorForPermutationLanguageModeling

    obj, blocks = objective
    hf = DataCollatorForPermutationLanguageModeling(obj.tokenizer, plm_probability=1 / 6, max_span_length=5)
    with torch.random.fork_rng(devices=[]):  # the collator draws from the global generator
        torch.manual_seed(0)
        _, _, _, hf_labels = hf.torch_mask_tokens(blocks.clone())
    ours, _ = _unpack(obj.collate(blocks, torch.Generator().manual_seed(2)))
    theirs = hf_labels != -100
    assert abs(ours.float().mean() - theirs.float().mean()) < 0.01
    ours_len, theirs_len = _run_lengths(ours), _run_lengths(theirs)
    ours_hist = torch.bincount(ours_len, minlength=11)[:11] / len(ours_len)
    theirs_hist = torch.bincount(theirs_len, minlength=11)[:11] / len(theirs_len)
    assert (ours_hist - theirs_hist).abs().sum() / 2 < 0.07  # total variation distance


def test_loss_equals_querying_every_position(objective):
    obj, blocks = objective
    model = obj.build_model("xlnet-tiny", seed=0).eval()
    batch = obj.collate(blocks[:4, :64], torch.Generator().manual_seed(3))
    _, labels = _unpack(batch)
    every = dict(batch, target_mapping=torch.eye(64).expand(4, 64, 64), labels=labels)  # the collator's way
    with torch.no_grad():
        assert torch.allclose(model(**batch).loss, model(**every).loss, atol=1e-5)


def test_odd_lengths_are_refused(objective):
    obj, blocks = objective
    with pytest.raises(LmlearnError, match="even"):
        plm_batch(blocks[:2, :63], torch.zeros(2, 63, dtype=torch.bool), 6, 1 / 6, 5, torch.Generator())
    odd = PermutationLM(PretrainConfig(objective="plm", block_size=63), obj.tokenizer)
    with pytest.raises(LmlearnError, match="--block-size 63"):
        odd.prepare(None)


def test_masks_come_from_the_generator(objective):
    obj, blocks = objective
    first = obj.collate(blocks[:8], torch.Generator().manual_seed(4))
    again = obj.collate(blocks[:8], torch.Generator().manual_seed(4))
    other = obj.collate(blocks[:8], torch.Generator().manual_seed(5))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["perm_mask"], other["perm_mask"])


def test_pretrain_plm_learns_and_saves_an_xlnet_folder(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = run(PretrainConfig(objective="plm", model="xlnet-tiny", data="builtin:corpus?docs=600",
                                 vocab_size=1000, block_size=64, batch_size=8, max_steps=150, lr=3e-3,
                                 warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert type(model).__name__ == "XLNetLMHeadModel"
    ids = tok("지난달에 공책을 샀어요.", return_tensors="pt")
    assert model(**ids).logits.shape == (1, ids["input_ids"].shape[1], len(tok))


def test_plm_refuses_other_families(tmp_path):
    with pytest.raises(LmlearnError, match="xlnet"):
        run(PretrainConfig(objective="plm", model="bert-tiny", out=str(tmp_path), progress=False))
