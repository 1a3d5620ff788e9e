"""SpanBERT (objectives.md §4): an exact masking budget, spans of whole words with geometric lengths,
one replacement per span, span boundary targets, and a run that learns and saves a BERT folder."""

import math

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.objectives.span import SpanBERT, span_edges, span_mask

DATA = "builtin:corpus?docs=300"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["bert", "roberta"])
def objective(request):
    from lmlearn.data.sources import load_source
    from lmlearn.tokenization import train_tokenizer

    ds = load_source(DATA)
    tok = train_tokenizer(ds["text"], family=request.param, vocab_size=1000)
    obj = SpanBERT(PretrainConfig(objective="span", block_size=128), tok)
    return obj, obj.prepare(ds)


def _runs(masked_row: torch.Tensor) -> list[tuple[int, int]]:
    """(first, last) of each maximal run of masked positions."""
    runs, start = [], None
    for i, m in enumerate(masked_row.tolist() + [False]):
        if m and start is None:
            start = i
        if not m and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def _starts_word(pieces: list[str], i: int, special: set[str], wordpiece: bool) -> bool:
    """Written apart from span.py: '##' marks a WordPiece continuation, 'Ġ' a byte-level BPE word start."""
    if pieces[i] in special or pieces[i - 1] in special or pieces[i - 1].endswith("Ċ"):
        return True
    return not pieces[i].startswith("##") if wordpiece else pieces[i].startswith("Ġ")


def test_masks_exactly_the_budget_of_non_special_tokens(objective):
    obj, blocks = objective
    batch = obj.collate(blocks, torch.Generator().manual_seed(0))
    special = torch.isin(blocks, torch.tensor(obj.tokenizer.all_special_ids))
    masked = batch["labels"] != -100
    assert blocks.numel() > 20_000
    for row in range(len(blocks)):
        assert int(masked[row].sum()) == math.ceil(0.15 * int((~special[row]).sum()))
    assert not (masked & special).any()
    assert torch.equal(batch["labels"][masked], blocks[masked])


def test_spans_start_and_end_on_word_boundaries(objective):
    obj, blocks = objective
    batch = obj.collate(blocks, torch.Generator().manual_seed(1))
    special, wordpiece = set(obj.tokenizer.all_special_tokens), obj.tokenizer.cls_token == "[CLS]"
    for row in range(len(blocks)):
        pieces = obj.tokenizer.convert_ids_to_tokens(blocks[row].tolist())
        runs = _runs(batch["labels"][row] != -100)
        assert all(_starts_word(pieces, first, special, wordpiece) for first, _ in runs)
        # only the span that used up the budget may stop inside a word
        assert sum(not _starts_word(pieces, last + 1, special, wordpiece) for _, last in runs) <= 1


def test_span_lengths_follow_the_clipped_geometric_distribution():
    # Long rows and a small budget, so that spans rarely merge or get cut; about two tokens per word.
    gen = torch.Generator().manual_seed(0)
    is_start = torch.rand(16, 40_000, generator=gen) < 0.5
    is_start[:, 0] = True
    maskable = torch.ones_like(is_start)
    masked = span_mask(is_start, maskable, 0.01, 0.2, 10, torch.Generator().manual_seed(1))
    words = [int(is_start[row, a:b + 1].sum()) for row in range(16) for a, b in _runs(masked[row])]
    assert len(words) > 700
    assert abs(sum(words) / len(words) - 3.8) < 0.3
    assert abs(words.count(1) / len(words) - 0.2 / (1 - 0.8 ** 10)) < 0.05  # P(1) of the clipped geometric
    assert max(words) <= 20  # 10 words at most per span; two merged spans are rare and short


def test_one_replacement_per_span_in_80_10_10_proportions(objective):
    obj, blocks = objective
    batch = obj.collate(blocks, torch.Generator().manual_seed(2))
    kinds = {"mask": 0, "random": 0, "kept": 0}
    mask_id = obj.tokenizer.mask_token_id
    for row in range(len(blocks)):
        for a, b in _runs(batch["labels"][row] != -100):
            got, original = batch["input_ids"][row, a:b + 1], blocks[row, a:b + 1]
            is_mask = got == mask_id
            assert is_mask.all() or not is_mask.any()
            kinds["mask" if is_mask.all() else "kept" if torch.equal(got, original) else "random"] += 1
    total = sum(kinds.values())
    assert total > 500
    assert abs(kinds["mask"] / total - 0.8) < 0.05
    assert abs(kinds["random"] / total - 0.1) < 0.04 and abs(kinds["kept"] / total - 0.1) < 0.04
    special = torch.tensor(obj.tokenizer.all_special_ids)
    unmasked = batch["labels"] == -100
    assert not torch.isin(batch["input_ids"][~unmasked & (batch["input_ids"] != mask_id)], special).any()
    assert torch.equal(batch["input_ids"][unmasked], blocks[unmasked])


def test_span_boundary_targets_and_logits(objective):
    obj, blocks = objective
    batch = obj.collate(blocks[:16], torch.Generator().manual_seed(3))
    masked = batch["labels"] != -100
    first, last = span_edges(masked)
    rows, left, right = batch["sbo_index"], batch["sbo_left"], batch["sbo_right"]
    target = left + 1 + batch["sbo_position"]
    assert len(rows) > 0
    assert (left >= 1).all() and (right <= blocks.shape[1] - 2).all()  # never the framing [CLS]/[SEP]
    assert not masked[rows, left].any() and not masked[rows, right].any()
    assert masked[rows, target].all() and (batch["sbo_position"] < 20).all()
    assert torch.equal(first[rows, target], left + 1) and torch.equal(last[rows, target], right - 1)
    assert torch.equal(batch["sbo_labels"], blocks[rows, target])
    expected = sum(1 for r in range(16) for a, b in _runs(masked[r])
                   if a >= 2 and b <= blocks.shape[1] - 3 for _ in range(min(b - a + 1, 20)))
    assert len(rows) == expected

    model = obj.build_model(_preset(obj), seed=0)
    out = model.mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    embeddings = model.mlm.get_input_embeddings().weight
    logits = model.span_boundary_head(out.hidden_states[-1], batch, embeddings)
    assert logits.shape == (len(rows), len(obj.tokenizer))
    total = model(**batch)
    assert torch.allclose(total.loss, total.mlm_loss + total.sbo_loss)
    assert abs(total.sbo_loss.item() - math.log(len(obj.tokenizer))) < 1.0  # near uniform at initialisation


def _preset(obj) -> str:
    return ("bert" if obj.tokenizer.cls_token == "[CLS]" else "roberta") + "-tiny"


def test_masks_come_from_the_generator(objective):
    obj, blocks = objective
    first = obj.collate(blocks[:8], torch.Generator().manual_seed(4))
    again = obj.collate(blocks[:8], torch.Generator().manual_seed(4))
    other = obj.collate(blocks[:8], torch.Generator().manual_seed(5))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["labels"], other["labels"])


def test_pretrain_span_learns_and_saves_a_masked_lm_folder(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    summary = run(PretrainConfig(objective="span", model="bert-tiny", data="builtin:corpus?docs=600",
                                 vocab_size=1000, block_size=64, batch_size=8, max_steps=150, lr=1e-3,
                                 warmup_steps=10, eval_every=0, eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 2.0
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert type(model).__name__ == "BertForMaskedLM"
    ids = tok("지난달에 공책을 샀어요.", return_tensors="pt")
    assert model(**ids).logits.shape == (1, ids["input_ids"].shape[1], len(tok))


def test_span_refuses_other_families(tmp_path):
    with pytest.raises(LmlearnError, match="bert, roberta"):
        run(PretrainConfig(objective="span", model="gpt2-tiny", out=str(tmp_path), progress=False))
