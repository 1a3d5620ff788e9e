"""Masked LM (mlm), BERT's MLM+NSP and ALBERT's MLM+SOP: masking statistics, pair construction,
the gathered-head loss, and end-to-end runs that learn and save loadable folders."""

import random
from types import SimpleNamespace

import pytest
import torch

from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import build_model, load_model
from lmlearn.models.presets import build_config
from lmlearn.objectives.masking import IGNORE, ngram_lengths, vocab_tables, word_starts
from lmlearn.objectives.mlm import MaskedLM, full_sentences
from lmlearn.objectives.nsp import MaskedLMWithNSP, build_pairs, next_sentence_rule
from lmlearn.objectives.sop import MaskedLMWithSOP, sentence_order_rule

DATA = "builtin:corpus?docs=300"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus():
    from lmlearn.data.sources import load_source

    return load_source(DATA)


@pytest.fixture(scope="module")
def tokenizers(corpus):
    from lmlearn.tokenization import train_tokenizer

    return {family: train_tokenizer(corpus["text"], family=family, vocab_size=1000)
            for family in ("bert", "roberta", "albert")}


def settings(**kw):
    base = dict(text_column="text", block_size=64, seed=0, mlm_probability=0.15, whole_word=False, dupe_factor=0,
                short_seq_prob=0.1, max_ngram=3)
    return SimpleNamespace(**{**base, **kw})


def masked(objective, examples, seed=0):
    """The batch of all `examples` and which positions were chosen for prediction."""
    batch = objective.collate(examples, torch.Generator().manual_seed(seed))
    return batch, batch["labels"] != IGNORE


def originals(batch):
    """The unmasked ids: labels where a position is predicted, the input elsewhere."""
    return torch.where(batch["labels"] != IGNORE, batch["labels"], batch["input_ids"])


def owners(tokenizer, ids):
    """For every position, the position of the first piece of its word."""
    starts = word_starts(tokenizer, ids)
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    return torch.where(starts, positions, 0).cummax(1).values


@pytest.mark.parametrize("family", ["bert", "roberta", "albert"])
def test_word_starts_split_text_into_its_whitespace_words(tokenizers, corpus, family):
    tok = tokenizers[family]
    for text in corpus["text"][:100]:
        ids = torch.tensor(tok(text)["input_ids"])[None]
        starts = word_starts(tok, ids)[0, 1:-1].tolist()  # without [CLS]/[SEP]
        pieces = ids[0, 1:-1].tolist()
        bounds = [i for i, s in enumerate(starts) if s] + [len(pieces)]
        words = [tok.decode(pieces[a:b]).strip() for a, b in zip(bounds, bounds[1:])]
        assert words == text.split()


@pytest.mark.parametrize("family,whole_word", [("bert", False), ("bert", True), ("roberta", True)])
def test_selects_15_percent_of_ordinary_tokens_with_80_10_10(tokenizers, corpus, family, whole_word):
    tok = tokenizers[family]
    objective = MaskedLM(settings(whole_word=whole_word), tok)
    examples = objective.prepare(corpus)
    batch, chosen = masked(objective, examples)
    special = vocab_tables(tok).special
    inputs, attention = batch["input_ids"], batch["attention_mask"].bool()
    ids = examples[:, :inputs.shape[1]]  # the unmasked blocks
    ordinary = attention & ~special[ids]
    assert ordinary.sum() > 30_000
    assert abs(chosen.sum() / ordinary.sum() - 0.15) < 0.01
    assert not (chosen & ~ordinary).any()  # never [CLS], [SEP] or pad
    assert torch.equal(batch["labels"][chosen], ids[chosen]) and (batch["labels"][~chosen] == IGNORE).all()
    assert torch.equal(inputs[~chosen], ids[~chosen])
    n = chosen.sum()
    is_mask = inputs[chosen] == tok.mask_token_id
    kept = inputs[chosen] == ids[chosen]
    replaced = ~is_mask & ~kept
    assert abs(is_mask.sum() / n - 0.8) < 0.02
    assert abs(kept.sum() / n - 0.1) < 0.02 and abs(replaced.sum() / n - 0.1) < 0.02
    assert not special[inputs[chosen][replaced]].any()  # random replacements are ordinary tokens


@pytest.mark.parametrize("family", ["bert", "roberta", "albert"])
def test_whole_word_masking_takes_all_pieces_of_a_word_or_none(tokenizers, corpus, family):
    tok = tokenizers[family]
    objective = MaskedLM(settings(whole_word=True), tok)
    batch, chosen = masked(objective, objective.prepare(corpus))
    ids = originals(batch)
    ordinary = batch["attention_mask"].bool() & ~vocab_tables(tok).special[ids]
    multi_piece = ordinary & ~word_starts(tok, ids)
    assert multi_piece.sum() > 1000  # many words have several pieces, so the property is tested
    assert torch.equal(chosen[ordinary], chosen.gather(1, owners(tok, ids))[ordinary])
    plain = MaskedLM(settings(whole_word=False), tok)
    _, piecewise = masked(plain, plain.prepare(corpus))
    assert not torch.equal(piecewise[ordinary], piecewise.gather(1, owners(tok, ids))[ordinary])


def test_dynamic_masks_change_with_the_generator_and_repeat_with_its_seed(tokenizers, corpus):
    objective = MaskedLM(settings(), tokenizers["bert"])
    examples = objective.prepare(corpus)[:64]
    first, again, other = (masked(objective, examples, seed)[0] for seed in (1, 1, 2))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["labels"], other["labels"])
    assert torch.equal(originals(first), originals(other))


def test_static_masking_makes_dupe_factor_distinct_copies(tokenizers, corpus):
    tok = tokenizers["bert"]
    plain = MaskedLM(settings(), tok).prepare(corpus)
    static = MaskedLM(settings(dupe_factor=3), tok).prepare(corpus)
    n = len(plain)
    assert static.shape == (3 * n, 2, plain.shape[1])
    inputs, labels = static[:, 0], static[:, 1]
    restored = torch.where(labels != IGNORE, labels, inputs)
    assert torch.equal(restored, plain.repeat(3, 1))
    copies = (labels != IGNORE).view(3, n, -1)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        differs = (copies[a] != copies[b]).any(1)
        assert differs.float().mean() > 0.99
    objective = MaskedLM(settings(dupe_factor=3), tok)
    batch = objective.collate(static[:8], torch.Generator().manual_seed(5))
    width = batch["input_ids"].shape[1]
    assert torch.equal(batch["labels"], labels[:8, :width])  # served as made, whatever the generator


def test_full_sentences_packs_whole_sentences_with_a_separator_between_documents():
    rng = random.Random(0)
    docs, token = [], 100
    for _ in range(50):
        doc = []
        for _ in range(rng.randint(1, 8)):
            length = rng.randint(1, 30)
            doc.append(list(range(token, token + length)))
            token += length
        docs.append(doc)
    docs[3].append(list(range(token, token + 100)))  # longer than a block: split, not dropped
    cls, sep = 1, 2
    blocks = full_sentences(docs, 64, cls, sep)
    piece_starts = {s[i] for d in docs for s in d for i in range(0, len(s), 62)}
    doc_starts = {d[0][0] for d in docs}
    content = []
    for block in blocks:
        assert len(block) <= 64 and block[0] == cls and block[-1] == sep
        inner = block[1:-1]
        assert inner[0] in piece_starts  # blocks start at a sentence (or at a 62-token piece of a long one)
        for i, t in enumerate(inner):
            if t == sep:  # a separator only where a new document starts inside a block
                assert inner[i + 1] in doc_starts
        content += [t for t in inner if t != sep]
    assert content == [t for d in docs for s in d for t in s]
    assert sum(len(b) for b in blocks) / (64 * len(blocks)) > 0.7


def synthetic_documents(n_docs=600, sentences=(8, 25), seed=0):
    """Documents of sentences whose token t encodes its document (t // 10**6) and position (t % 10**6)."""
    rng = random.Random(seed)
    docs = []
    for d in range(n_docs):
        doc, pos = [], 0
        for _ in range(rng.randint(*sentences)):
            length = rng.randint(3, 15)
            doc.append([d * 10**6 + pos + i for i in range(length)])
            pos += length
        docs.append(doc)
    return docs


def contiguous(tokens):
    return all(b == a + 1 for a, b in zip(tokens, tokens[1:]))


def test_nsp_pairs_take_b_from_another_document_half_the_time():
    docs = synthetic_documents()
    rng = random.Random(0)
    pairs = build_pairs(docs, 61, 0.1, rng, next_sentence_rule(docs, rng))
    for a, b, label in pairs:
        assert a and b and len(a) + len(b) <= 61 and contiguous(a) and contiguous(b)
        same_doc = a[0] // 10**6 == b[0] // 10**6
        if label == 0:
            assert same_doc and b[0] > a[-1]
        else:
            assert not same_doc
    assert sum(len(a) + len(b) < 40 for a, b, _ in pairs) > 0.05 * len(pairs)  # short_seq_prob targets
    # A one-sentence chunk always gets a random B, so the coin shows where such chunks are rare:
    # long documents (only their last chunk may be short) and no short targets.
    docs = synthetic_documents(n_docs=300, sentences=(60, 60))
    rng = random.Random(1)
    labels = [label for _, _, label in build_pairs(docs, 61, 0.0, rng, next_sentence_rule(docs, rng))]
    assert len(labels) > 2500 and abs(sum(labels) / len(labels) - 0.5) < 0.035


def test_sop_negatives_are_swapped_segments_of_one_document():
    docs = synthetic_documents()
    rng = random.Random(0)
    pairs = build_pairs(docs, 61, 0.1, rng, sentence_order_rule(rng))
    labels = [label for _, _, label in pairs]
    assert len(pairs) > 1500 and abs(sum(labels) / len(labels) - 0.5) < 0.04
    for first, second, label in pairs:
        assert contiguous(first) and contiguous(second) and first[0] // 10**6 == second[0] // 10**6
        a, b = (second, first) if label == 1 else (first, second)
        assert b[0] > a[-1]  # A precedes B in the document; label 1 shows them as B, A
        if len(a) + len(b) < 61:  # untruncated: B continues A exactly
            assert b[0] == a[-1] + 1


@pytest.mark.parametrize("objective_class,family", [(MaskedLMWithNSP, "bert"), (MaskedLMWithSOP, "albert")])
def test_pair_batches_have_segments_and_never_mask_specials(tokenizers, corpus, objective_class, family):
    tok = tokenizers[family]
    objective = objective_class(settings(), tok)
    pairs = objective.prepare(corpus)
    batch, chosen = masked(objective, pairs)
    ids, segments, attention = originals(batch), batch["token_type_ids"], batch["attention_mask"].bool()
    for row in range(len(pairs)):
        length = int(attention[row].sum())
        seps = (ids[row, :length] == tok.sep_token_id).nonzero().flatten().tolist()
        assert ids[row, 0] == tok.cls_token_id and len(seps) == 2 and seps[1] == length - 1
        assert segments[row, :seps[0] + 1].eq(0).all() and segments[row, seps[0] + 1:length].eq(1).all()
        assert segments[row, length:].eq(0).all()
    assert not (chosen & (vocab_tables(tok).special[ids] | ~attention)).any()
    # Loose: these documents are short, and BERT gives every one-sentence chunk a random B (label 1).
    pair_labels = batch[objective.pair_label_name].float()
    assert 0.35 < pair_labels.mean() < 0.75


def test_static_pairs_are_drawn_and_masked_once_per_copy(tokenizers, corpus):
    tok = tokenizers["bert"]
    dynamic = MaskedLMWithNSP(settings(), tok).prepare(corpus)
    objective = MaskedLMWithNSP(settings(dupe_factor=2), tok)
    pairs = objective.prepare(corpus)
    assert abs(len(pairs) - 2 * len(dynamic)) < 0.1 * len(dynamic)  # two fresh draws of pairs
    assert all(p.mlm_labels is not None and len(p.mlm_labels) == len(p.input_ids) for p in pairs)
    first, _ = masked(objective, pairs[:16], seed=1)
    again, _ = masked(objective, pairs[:16], seed=2)
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_ngram_lengths_follow_one_over_n():
    g = torch.Generator().manual_seed(0)
    n = ngram_lengths(torch.full((200_000,), 3), 3, g)
    for k, p in [(1, 6 / 11), (2, 3 / 11), (3, 2 / 11)]:
        assert abs((n == k).float().mean() - p) < 0.005
    n2 = ngram_lengths(torch.full((100_000,), 2), 3, g)  # renormalised when fewer words remain
    assert abs((n2 == 1).float().mean() - 2 / 3) < 0.005 and n2.max() == 2
    assert ngram_lengths(torch.ones(1000, dtype=torch.long), 3, g).eq(1).all()


def test_sop_masks_whole_word_ngrams_within_albert_budget(tokenizers, corpus):
    tok = tokenizers["albert"]
    objective = MaskedLMWithSOP(settings(), tok)
    batch, chosen = masked(objective, objective.prepare(corpus))
    ids, attention = originals(batch), batch["attention_mask"].bool()
    ordinary = attention & ~vocab_tables(tok).special[ids]
    budget = torch.round(0.15 * attention.sum(1)).clamp(min=1)
    assert (chosen.sum(1) <= budget).all() and chosen.sum() / budget.sum() > 0.9
    assert torch.equal(chosen[ordinary], chosen.gather(1, owners(tok, ids))[ordinary])
    inputs = batch["input_ids"][chosen]
    assert abs((inputs == tok.mask_token_id).float().mean() - 0.8) < 0.03


def mlm_models(tok):
    for preset in ("bert-tiny", "roberta-tiny", "albert-tiny", "electra-tiny", "deberta-v2-tiny", "distilbert-tiny"):
        yield preset, load_model(preset, "masked-lm", tok, seed=0)
    config = build_config("deberta-v2-tiny", tok)
    config.legacy = False  # the original DeBERTa head (lm_predictions) instead of BERT's (cls)
    yield "deberta-v2-tiny (lm_predictions)", build_model(config, "masked-lm", seed=0)


def test_gathered_head_loss_equals_the_full_head_loss(tokenizers, corpus):
    tok = tokenizers["bert"]
    objective = MaskedLM(settings(), tok)
    batch, chosen = masked(objective, objective.prepare(corpus)[:16])
    assert chosen.float().mean() < 0.2
    for name, model in mlm_models(tok):
        model.eval()
        with torch.no_grad():
            assert abs(objective.loss(model, batch) - model(**batch).loss) < 1e-5, name
    rows = []
    bert = load_model("bert-tiny", "masked-lm", tok, seed=0)
    bert.cls.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
    objective.loss(bert, batch)
    assert rows == [int(chosen.sum())]  # the vocabulary projection ran on the masked positions only
    for objective_class, preset in [(MaskedLMWithNSP, "bert-tiny"), (MaskedLMWithSOP, "albert-tiny")]:
        objective = objective_class(settings(), tok)
        batch, _ = masked(objective, objective.prepare(corpus)[:16])
        model = load_model(preset, "pretraining", tok, seed=0).eval()
        with torch.no_grad():
            assert abs(objective.loss(model, batch) - model(**batch).loss) < 1e-5, preset


@pytest.mark.parametrize("objective,preset,auto", [
    ("mlm", "bert-tiny", "AutoModelForMaskedLM"),
    ("mlm+nsp", "bert-tiny", "AutoModelForPreTraining"),
    ("mlm+sop", "albert-tiny", "AutoModelForPreTraining"),
])
def test_pretraining_lowers_held_out_loss_and_saves_a_loadable_folder(tmp_path, objective, preset, auto):
    import transformers

    summary = run(PretrainConfig(objective=objective, model=preset, data="builtin:corpus?docs=600", vocab_size=1000,
                                 block_size=64, batch_size=8, max_steps=150, lr=1e-3, warmup_steps=10, eval_every=0,
                                 eval_batches=4, out=str(tmp_path), progress=False))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    model = getattr(transformers, auto).from_pretrained(tmp_path / "model")
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "model")
    out = model(**tok("Minjun lives in Seoul.", return_tensors="pt"))
    logits = out.logits if auto == "AutoModelForMaskedLM" else out.prediction_logits
    assert logits.shape[-1] == model.config.vocab_size


def test_wrong_model_family_names_the_supported_ones(tmp_path):
    with pytest.raises(LmlearnError, match="families it supports: albert"):
        run(PretrainConfig(objective="mlm+sop", model="bert-tiny", out=str(tmp_path), progress=False))
